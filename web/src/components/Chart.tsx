/**
 * A tiny React wrapper over ECharts (tree-shaken: line, radar and bar charts with grid, tooltip, legend, radar and
 * data-zoom components, canvas renderer). The chart follows its box's size; `option` replaces the previous one.
 */
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, LineChart, RadarChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, LegendComponent, RadarComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { EChartsCoreOption } from 'echarts/core';

echarts.use([LineChart, RadarChart, BarChart, GridComponent, TooltipComponent, LegendComponent, RadarComponent, DataZoomComponent, CanvasRenderer]);

export interface ChartProps {
  option: EChartsCoreOption;
  height?: number;
  /** Accessible description of what the chart shows (the canvas itself is not readable). */
  label: string;
  testId?: string;
  /** Extra data attributes (e.g. the number of points, for tests). */
  data?: Record<string, string | number>;
}

export function Chart({ option, height = 320, label, testId, data }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    if (!box.current) return;
    const c = echarts.init(box.current, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(box.current);
    return () => { ro.disconnect(); c.dispose(); chart.current = null; };
  }, []);
  useEffect(() => { chart.current?.setOption(option, { notMerge: true, lazyUpdate: true }); }, [option]);
  const attrs: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(data ?? {})) attrs[`data-${k}`] = v;
  return <div ref={box} className="chart" style={{ height }} role="img" aria-label={label} data-testid={testId} {...attrs} />;
}

export const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];
