/**
 * The benchmark system's public API (for the factory, the HTTP API and the CLI). Importing it registers the
 * built-in document generators (needle, arithmetic, heldout, fact_questions).
 */
import './needle.ts';
import './reasoning.ts';
import './heldout.ts';
import './fact-question-sets.ts';

export * from './bench-types.ts';
export { render, renderValue, parseTemplate, stableHash, TemplateError } from './template.ts';
export * from './task.ts';
export * from './text-metrics.ts';
export * from './importers.ts';
export { runTask, taskCacheKey, scoreOf, type RunTaskOptions } from './task-runner.ts';
export * from './judge.ts';
export * from './suite.ts';
export * from './cache.ts';
export * from './run.ts';
export * from './leaderboard.ts';
export * from './builtin.ts';
export { needleDocs, type NeedleParams } from './needle.ts';
export { arithmeticDocs } from './reasoning.ts';
export { heldoutDocs, heldoutGenerationTask, heldoutPerplexityTask, parseRecords, readRecords, type HeldoutDoc } from './heldout.ts';
export { factQuestionsTask, factQuestionsJsonl, readFactQuestions, validateFactQuestionSets, FACT_LIMITS, type FactQuestion, type FactQuestionSet } from './fact-question-sets.ts';
export { factScore, statesFact, quantities, type Quantity } from './fact-match.ts';
export { FileReadError, MAX_RECORDS_BYTES, readTextFile, readTextFileSync } from './record-files.ts';
export { exportLmEvalTask, lmEvalUnsupported, type LmEvalExport } from './lm-eval-export.ts';
export { runLmEval, type LmEvalRunOptions, type LmEvalResult, type LmEvalTaskResult } from './lm-eval-run.ts';
export { openTarget, type OpenTargetOptions } from './targets/open.ts';
export { EngineTarget, type EngineTargetOptions } from './targets/engine.ts';
export { LlamaTarget, type LlamaTargetOptions } from './targets/llama.ts';
export { OpenAITarget, type OpenAITargetOptions } from './targets/openai-target.ts';
export { ScriptedTarget, alwaysLetterTarget, randomTarget } from './targets/scripted.ts';
