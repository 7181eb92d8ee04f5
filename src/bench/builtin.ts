/**
 * Built-in tasks and suites that run offline: exam subjects from CMMLU / MMLU / C-Eval folders, generated reasoning
 * items, needle-in-a-haystack at several lengths and depths (zh and en), and tasks from a dataset's held-out split.
 *
 * Owns: `examTask` (lm-evaluation-harness's MMLU prompt in English, CMMLU's in Chinese; letter answers scored by
 * log-likelihood; CircularEval over the options), `reasoningTask`, `needleTask`, and `standardSuite`, whose
 * dimensions are knowledge (exams), reasoning (arithmetic), context (needles), dialogue and generation (held-out
 * split, when records are given). Missing exam data leaves the knowledge dimension out with a note, never fails.
 * Guarantees: every task here is versioned; changing a prompt here means bumping its version.
 */
import { existsSync } from 'node:fs';
import { examFilePath, type ExamFormat } from './importers.ts';
import { validateTask, type TaskConfig } from './task.ts';
import { heldoutDocs, heldoutGenerationTask, heldoutPerplexityTask } from './heldout.ts';
import { makeSuite, type Suite, type SuiteTask } from './suite.ts';
import './needle.ts';
import './reasoning.ts';

const SUBJECT_ZH: Record<string, string> = { college_law: '大学法律', legal_and_moral_basis: '法律与道德基础' };

/** One exam subject as a multiple-choice task (letters A-D after "Answer:" / "答案："). */
export function examTask(format: ExamFormat, root: string, subject: string, opts: { numFewshot?: number; circular?: boolean; limit?: number; split?: string } = {}): TaskConfig {
  const zh = format !== 'mmlu';
  const nice = subject.replace(/_/g, ' ');
  const options = 'A. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}';
  const testSplit = opts.split ?? (format === 'ceval' ? 'val' : 'test');
  return validateTask({
    task: `${format}_${subject}`, version: 1,
    dataset: { kind: 'exam', format, root, subject }, test_split: testSplit, fewshot_split: 'dev',
    output_type: 'multiple_choice',
    description: zh ? `以下是关于${SUBJECT_ZH[subject] ?? nice}的单项选择题，请直接给出正确答案的选项。\n\n` : `The following are multiple choice questions (with answers) about ${nice}.\n\n`,
    doc_to_text: zh ? `题目：{{question|trim}}\n${options}\n答案：` : `{{question|trim}}\n${options}\nAnswer:`,
    doc_to_choice: ['A', 'B', 'C', 'D'], doc_to_target: '{{answer}}',
    num_fewshot: opts.numFewshot ?? 0, fewshot_config: { sampler: 'first_n' },
    ...(opts.circular ? { circular_eval: { field: 'choices' } } : {}),
    metric_list: [{ metric: 'acc' }, { metric: 'acc_norm' }, ...(opts.circular ? [{ metric: 'circular' }] : [])],
    primary_metric: 'acc', limit: opts.limit, metadata: { dimension: 'knowledge' },
  }, `${format}_${subject}`);
}

/** Generated arithmetic / comparison items (reasoning.ts) as multiple choice. */
export function reasoningTask(lang: 'zh' | 'en', opts: { n?: number; seed?: number } = {}): TaskConfig {
  return validateTask({
    task: `arithmetic_${lang}`, version: 1, dataset: { kind: 'generator', name: 'arithmetic', params: { lang, n: opts.n ?? 40, seed: opts.seed ?? 0 } },
    output_type: 'multiple_choice', doc_to_text: lang === 'zh' ? '问题：{{question}}\n答案：' : 'Question: {{question}}\nAnswer:',
    doc_to_choice: '{{choices}}', doc_to_target: '{{gold}}', metric_list: [{ metric: 'acc' }, { metric: 'acc_norm' }], primary_metric: 'acc_norm',
    metadata: { dimension: 'reasoning' },
  }, `arithmetic_${lang}`);
}

/**
 * Needle in a haystack (needle.ts). mode 'choice' (default) scores the four candidate codes by log-likelihood (works
 * for small models and any target with log-likelihoods); 'generate' asks for the code and checks the answer contains it.
 */
export function needleTask(lang: 'zh' | 'en', opts: { lengths?: number[]; depths?: number[]; mode?: 'choice' | 'generate'; seed?: number } = {}): TaskConfig {
  const mode = opts.mode ?? 'choice';
  const q = lang === 'zh' ? '{{context}}\n\n问题：{{question}}\n答案：' : '{{context}}\n\nQuestion: {{question}}\nAnswer:';
  const dataset = { kind: 'generator', name: 'needle', params: { lang, lengths: opts.lengths ?? [300, 1000, 3000], depths: opts.depths ?? [0, 0.5, 1], seed: opts.seed ?? 0 } };
  return validateTask(mode === 'choice'
    ? { task: `needle_${lang}`, version: 1, dataset, output_type: 'multiple_choice', doc_to_text: q, doc_to_choice: '{{choices}}', doc_to_target: '{{gold}}', metric_list: [{ metric: 'acc' }], metadata: { dimension: 'context' } }
    : { task: `needle_gen_${lang}`, version: 1, dataset, output_type: 'generate_until', doc_to_text: q, doc_to_target: '{{answer}}', generation_kwargs: { until: ['\n'], max_gen_toks: 16 }, metric_list: [{ metric: 'contains' }], metadata: { dimension: 'context' } },
  `needle_${lang}`);
}

export interface StandardSuiteOptions {
  /** Folder with cmmlu/ and mmlu/ (../shared/data/bench layout): adds the knowledge dimension. */
  benchData?: string;
  /** Held-out records (chat or alpaca) of the experiment's dataset: adds dialogue and generation. */
  heldout?: { name: string; records: unknown[] };
  /** Items per task at most (the demo keeps runs short). */
  limit?: number;
  needleLengths?: number[];
}

/** The standard offline suite (see the header). */
export function standardSuite(o: StandardSuiteOptions = {}): Suite {
  const dims: Record<string, { weight?: number; tasks: SuiteTask[] }> = {};
  const lim = (t: TaskConfig): SuiteTask => ({ task: o.limit ? { ...t, limit: t.limit ? Math.min(t.limit, o.limit) : o.limit } : t, weight: 1 });
  if (o.benchData) {
    const knowledge: SuiteTask[] = [];
    const cm = `${o.benchData}/cmmlu`, mm = `${o.benchData}/mmlu`;
    if (existsSync(examFilePath('cmmlu', cm, 'college_law', 'test'))) knowledge.push(lim(examTask('cmmlu', cm, 'college_law')));
    if (existsSync(examFilePath('mmlu', mm, 'marketing', 'test'))) knowledge.push(lim(examTask('mmlu', mm, 'marketing')));
    if (knowledge.length) dims.knowledge = { weight: 1, tasks: knowledge };
  }
  dims.reasoning = { weight: 1, tasks: [lim(reasoningTask('zh')), lim(reasoningTask('en'))] };
  dims.context = { weight: 1, tasks: [lim(needleTask('zh', { lengths: o.needleLengths })), lim(needleTask('en', { lengths: o.needleLengths }))] };
  if (o.heldout) {
    const { docs } = heldoutDocs(o.heldout.records);
    if (docs.length) {
      dims.dialogue = { weight: 1, tasks: [lim(heldoutGenerationTask(`${o.heldout.name}_answers`, docs))] };
      dims.generation = { weight: 1, tasks: [lim(heldoutPerplexityTask(`${o.heldout.name}_perplexity`, docs))] };
    }
  }
  return makeSuite('standard', 1, dims);
}
