/**
 * The factory's view of the models registry (the `models` table the gateway serves from): base models the factory
 * can fine-tune, and the models it makes, registered as soon as a job succeeds so their names work in
 * /v1/chat/completions right away. Factory facts (role, config, parameter count, quantized) live in `meta`.
 */
import { randomBytes } from 'node:crypto';
import type { ModelRow, ModelsRepo } from '../store/serve-repos.ts';
import { readModelInfo } from '../engine/io.ts';
import { parameterCount } from '../engine/config.ts';
import type { CatalogModel, ModelCatalog } from './factory-service.ts';

function toCatalog(r: ModelRow): CatalogModel | null {
  if (r.kind === 'endpoint' || !r.path) return null;
  const meta = r.meta ? (JSON.parse(r.meta) as Record<string, unknown>) : {};
  return {
    name: r.name, kind: r.kind === 'gguf' ? 'gguf' : meta.format === 'hf' ? 'hf' : meta.format === 'retriever' ? 'retriever' : 'engine', path: r.path,
    basePath: r.base_path ?? undefined, role: (meta.role as CatalogModel['role']) ?? 'base',
    config: meta.config as CatalogModel['config'], quantized: meta.quantized as boolean | undefined, params: meta.params as number | undefined,
    createdAt: Number(r.created_at) * 1000, meta,
  };
}

export function storeModelCatalog(models: ModelsRepo): ModelCatalog {
  return {
    async get(name) {
      const r = await models.getByName(name);
      return r ? toCatalog(r) : null;
    },
    async list() {
      return (await models.list()).map(toCatalog).filter((m): m is CatalogModel => m !== null);
    },
    async register(m) {
      const meta = { ...(m.meta ?? {}), role: m.role, config: m.config, params: m.params, quantized: m.quantized, format: m.kind };
      const existing = await models.getByName(m.name);
      const row = {
        name: m.name, kind: (m.kind === 'gguf' ? 'gguf' : 'engine') as ModelRow['kind'], path: m.path, base_path: m.basePath ?? null, adapter_path: null,
        endpoint: null, chat_template: null, owned_by: m.role === 'base' ? 'modelfab' : 'user', meta: JSON.stringify(meta),
      };
      if (existing) await models.update(existing.id, row);
      else await models.insert({ id: `model-${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`, created_at: Math.floor(m.createdAt / 1000), ...row });
    },
  };
}

/** A catalog entry for an engine model folder on disk (base models the factory made or a user added). */
export function engineModelEntry(name: string, dir: string, role: CatalogModel['role'] = 'base'): CatalogModel {
  const info = readModelInfo(dir);
  return { name, kind: 'engine', path: dir, role, config: info.config, params: parameterCount(info.config), createdAt: Date.now(), meta: { ...(info.meta ?? {}) } };
}
