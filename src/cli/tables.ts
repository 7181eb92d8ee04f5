/**
 * Plain-text tables for listings: a header, columns as wide as their widest cell (measured in terminal columns, so
 * Chinese names line up), two spaces between. Pure; and the models table, which joins the server's model list with
 * the jobs that made the fine-tunes (base, dataset, method), so that fine-tunes of one base and method can be told
 * apart.
 */

/** Terminal columns of a string: East Asian wide and full-width characters take two. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    w += (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x20000 && c <= 0x3fffd) ? 2 : 1;
  }
  return w;
}

const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - displayWidth(s)));

/** Rows under a header; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** What /v1/models gives for a model. */
export interface ModelEntry { id: string; owned_by: string; created: number }

/** What the jobs list gives about the job that made a model. */
export interface JobEntry {
  id: string; model: string; status: string; fine_tuned_model: string | null;
  hyperparameters: { fine_tuning_method?: string; method_options?: Record<string, unknown> };
  modelfab: { name?: string; stage?: string; dataset?: string | null; experiment_id?: string | null; eval_loss?: number | null };
}

/** A method with its defining option: "lora r16", "prefix 16", "full". */
export function methodLabel(options: Record<string, unknown> | undefined, type?: string): string {
  const t = String(options?.type ?? type ?? '-');
  if ((t === 'lora' || t === 'qlora') && options?.rank !== undefined) return `${t} r${String(options.rank)}`;
  if ((t === 'prefix' || t === 'prompt') && options?.numVirtualTokens !== undefined) return `${t} ${String(options.numVirtualTokens)}`;
  return t;
}

/**
 * The method column of a fine-tune: an experiment's job is named "base x dataset x method[ x sweep values]", and its
 * method part names what the user chose (with any swept values); other jobs show the method and its options.
 */
export function jobMethod(j: JobEntry): string {
  const parts = j.modelfab.experiment_id && j.modelfab.name ? j.modelfab.name.split(' x ') : [];
  if (parts.length >= 3) return parts.slice(2).join(' x ');
  return methodLabel(j.hyperparameters.method_options, j.hyperparameters.fine_tuning_method);
}

export function modelsTable(models: ModelEntry[], jobs: JobEntry[]): string[] {
  if (!models.length) return ['no models'];
  const byModel = new Map(jobs.filter((j) => j.fine_tuned_model).map((j) => [j.fine_tuned_model!, j]));
  const rows = models.map((m) => {
    const j = byModel.get(m.id);
    const loss = j?.modelfab.eval_loss;
    return [m.id, j?.model ?? '-', j?.modelfab.dataset ?? '-', j ? jobMethod(j) : '-', j?.modelfab.stage ?? '-', typeof loss === 'number' ? loss.toFixed(3) : '-', m.owned_by];
  });
  return table(['MODEL', 'BASE', 'DATASET', 'METHOD', 'STAGE', 'EVAL LOSS', 'OWNED BY'], rows);
}
