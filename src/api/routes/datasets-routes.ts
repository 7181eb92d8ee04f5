/**
 * /v1/datasets: the dataset registry. Import from uploaded files (one dataset, optional validation file or seeded
 * split) or from a LLaMA-Factory dataset_info.json (inline) whose file names map to uploaded file ids; list; get with
 * versions and statistics; preview through a chat template; delete.
 */
import type { FastifyInstance } from 'fastify';
import type { DedupMode } from '../../data/curate.ts';
import type { FormatName } from '../../data/formats/format-spec.ts';
import type { DatasetInfo } from '../../data/formats/llamafactory.ts';
import type { Stage } from '../../data/records.ts';
import type { DataService } from '../../data/data-service.ts';
import { ApiError } from '../errors.ts';

/** POST /v1/datasets: one file (and its validation split), or a LLaMA-Factory dataset_info.json over uploaded files. */
export interface ImportBody {
  name?: string;
  file_id?: string;
  validation_file_id?: string;
  format?: FormatName;
  stage?: Stage;
  validation_split?: number;
  seed?: number;
  dedup?: DedupMode;
  placeholders?: Record<string, string>;
  dataset_info?: DatasetInfo;
  /** dataset_info imports: file_name -> file id. */
  files?: Record<string, string>;
  only?: string[];
  prefix?: string;
}

const importSchema = {
  body: {
    type: 'object',
    properties: {
      name: { type: 'string' }, file_id: { type: 'string' }, validation_file_id: { type: 'string' },
      format: { type: 'string', enum: ['openai-chat', 'openai-preference', 'openai-kto', 'openai-completion', 'alpaca', 'sharegpt', 'text'] },
      stage: { type: 'string', enum: ['pretrain', 'sft', 'preference', 'kto'] },
      validation_split: { type: 'number', minimum: 0, exclusiveMaximum: 1 }, seed: { type: 'integer' },
      dedup: { type: 'string', enum: ['none', 'exact', 'near'] },
      placeholders: { type: 'object', additionalProperties: { type: 'string' } },
      dataset_info: { type: 'object' }, files: { type: 'object', additionalProperties: { type: 'string' } },
      only: { type: 'array', items: { type: 'string' } }, prefix: { type: 'string' },
    },
    additionalProperties: false,
  },
};

export function datasetsRoutes(app: FastifyInstance, service: DataService): void {
  app.post<{ Body: ImportBody }>('/v1/datasets', { schema: importSchema }, async (req) => {
    const b = req.body;
    const common = { validationSplit: b.validation_split, seed: b.seed, dedup: b.dedup, placeholders: b.placeholders };
    if (b.dataset_info) {
      const files = b.files ?? {};
      const r = await service.importDatasetInfo({
        ...common, info: b.dataset_info, only: b.only, prefix: b.prefix,
        resolve: (f) => (files[f] ? { fileId: files[f] } : null),
      });
      return { object: 'list', data: r.data, skipped: r.skipped };
    }
    if (!b.file_id) throw new ApiError(400, 'Missing required parameter: "file_id" (or "dataset_info").', 'invalid_request_error', 'file_id');
    if (!b.name) throw new ApiError(400, 'Missing required parameter: "name".', 'invalid_request_error', 'name');
    return service.importDataset({
      ...common, name: b.name, format: b.format, stage: b.stage, source: { fileId: b.file_id },
      ...(b.validation_file_id ? { validation: { fileId: b.validation_file_id } } : {}),
    });
  });

  app.get('/v1/datasets', async () => ({ object: 'list', data: await service.listDatasets() }));

  app.get<{ Params: { id: string } }>('/v1/datasets/:id', async (req) => service.getDataset(req.params.id, { versions: true }));

  app.get<{ Params: { id: string }; Querystring: { n?: string; template?: string; split?: string; version?: string } }>('/v1/datasets/:id/preview', async (req) => {
    const q = req.query;
    const n = q.n === undefined ? undefined : Number(q.n);
    if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 100)) throw new ApiError(400, 'n must be an integer from 1 to 100', 'invalid_request_error', 'n');
    if (q.split !== undefined && q.split !== 'train' && q.split !== 'validation') throw new ApiError(400, "split must be 'train' or 'validation'", 'invalid_request_error', 'split');
    // an unknown template is a StatusError naming `template` (data/templates.ts)
    return service.preview(req.params.id, { n, template: q.template, split: q.split as 'train' | 'validation' | undefined, version: q.version });
  });

  app.delete<{ Params: { id: string } }>('/v1/datasets/:id', async (req) => service.deleteDataset(req.params.id));
}
