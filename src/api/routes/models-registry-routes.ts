/**
 * POST /v1/models: registers a model the user brings (a GGUF file, a Hugging Face folder or a modelfab engine
 * folder, by a path on the server's machine) as a base the factory can fine-tune. Admin keys only (../authz.ts),
 * and only from the folders the server reads models from (../model-paths.ts): anything else is "path is not inside
 * an allowed model folder", with nothing read. The file is validated first (a malformed file gets a 400 naming the
 * problem, never a crash, never its bytes). Listing is GET /v1/models (the gateway).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { CatalogModel, FactoryService } from '../../factory/factory-service.ts';
import { engineModelEntry } from '../../factory/catalog.ts';
import { importModel } from '../../model-files/model-files.ts';
import { readGgufHeader } from '../../model-files/gguf-model.ts';
import { parameterCount } from '../../engine/config.ts';
import { ApiError } from '../errors.ts';
import type { ModelFolders } from '../model-paths.ts';
import { StatusError } from '../../util/status-error.ts';

/** A model registered by its path (POST /v1/models): the factory may train from it, the gateway serve it. */
export interface RegisteredModelObject { object: 'model'; id: string; kind: CatalogModel['kind']; path: string; params?: number; created: number; owned_by: 'user' }

const schema = { body: { type: 'object', required: ['path'], properties: { path: { type: 'string', minLength: 1 }, name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' } }, additionalProperties: false } };

export function modelsRegistryRoutes(app: FastifyInstance, factory: FactoryService, folders: ModelFolders): void {
  app.post<{ Body: { path: string; name?: string } }>('/v1/models', { schema }, async (req): Promise<RegisteredModelObject> => {
    const asked = req.body.path;
    const path = folders.resolve(asked);
    const name = req.body.name ?? basename(asked).replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9._-]/g, '-');
    if (await factory.catalogGet(name)) throw new ApiError(409, `a model named ${name} exists already; pass another name`, 'invalid_request_error', 'name', 'model_exists');
    let entry;
    try {
      if (statSync(path).isDirectory() && existsSync(join(path, 'modelfab.json'))) entry = engineModelEntry(name, path);
      else {
        const m = importModel(path); // validates the whole file
        // Stored quantized when any tensor is neither F32 (0), F16 (1) nor BF16 (30): QLoRA is refused on it.
        const quantized = !statSync(path).isDirectory() && [...readGgufHeader(path).tensors.values()].some((t) => ![0, 1, 30].includes(t.type));
        entry = { name, kind: statSync(path).isDirectory() ? 'hf' as const : 'gguf' as const, path, role: 'base' as const, config: m.config, params: parameterCount(m.config), quantized, createdAt: Date.now(), meta: { warnings: m.warnings } };
      }
    } catch (e) {
      // any reason the file cannot be used (a format error, a missing file) is about the `path` this request named
      throw new StatusError(400, `${asked}: ${(e as Error).message}`, { param: 'path', code: 'invalid_model_file', cause: e });
    }
    await factory.catalogRegister(entry);
    return { object: 'model', id: name, kind: entry.kind, path, params: entry.params, created: Math.floor(entry.createdAt / 1000), owned_by: 'user' };
  });
}
