/** ECharts in the panel: only the bar and line charts and the components they need, drawn as SVG. */
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent, SVGRenderer]);

let current: echarts.ECharts | null = null;

export function drawChart(el: HTMLElement, option: Record<string, unknown>): void {
  current?.dispose();
  current = echarts.init(el, null, { renderer: 'svg' });
  current.setOption(option);
}

export function disposeChart(): void {
  current?.dispose();
  current = null;
}
