/**
 * /v1/files in OpenAI's shapes: upload (multipart: `file`, `purpose`), list, retrieve, delete, content.
 * An upload streams to a temporary file (size-limited), then the data service validates and stores it.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import type { DataService } from '../../data/data-service.ts';
import { formatBytes } from '../../data/dataset-limits.ts';
import { ApiError } from '../errors.ts';

export function filesRoutes(app: FastifyInstance, service: DataService): void {
  app.post('/v1/files', async (req) => {
    if (!req.isMultipart()) throw new ApiError(400, 'Expected multipart/form-data with fields "file" and "purpose".', 'invalid_request_error', 'file');
    let temp: string | null = null;
    let filename = '';
    let purpose: string | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || temp !== null) {
            part.file.resume();
            throw new ApiError(400, `Unexpected file field ${JSON.stringify(part.fieldname)}: send exactly one file, as "file".`, 'invalid_request_error', part.fieldname);
          }
          temp = service.artifacts.tempFile('upload');
          filename = part.filename;
          await pipeline(part.file, createWriteStream(temp));
          if (part.file.truncated) {
            throw new ApiError(413, `File is over the upload limit of ${formatBytes(service.limits.maxFileBytes)}.`, 'invalid_request_error', 'file', 'file_too_large');
          }
        } else if (part.fieldname === 'purpose') purpose = String(part.value);
      }
      if (temp === null) throw new ApiError(400, 'Missing required parameter: "file".', 'invalid_request_error', 'file');
      if (purpose === undefined) throw new ApiError(400, 'Missing required parameter: "purpose".', 'invalid_request_error', 'purpose');
      const t = temp;
      temp = null; // consumed by createFile
      return await service.createFile(t, filename, purpose);
    } finally {
      if (temp) rmSync(temp, { force: true });
    }
  });

  app.get<{ Querystring: { purpose?: string; limit?: string; after?: string; order?: string } }>('/v1/files', async (req) => {
    const q = req.query;
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 10000)) throw new ApiError(400, 'limit must be an integer from 1 to 10000', 'invalid_request_error', 'limit');
    if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw new ApiError(400, "order must be 'asc' or 'desc'", 'invalid_request_error', 'order');
    const { data, has_more } = await service.listFiles({ purpose: q.purpose, limit, after: q.after, order: q.order as 'asc' | 'desc' | undefined });
    return { object: 'list', data, has_more, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null };
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id', async (req) => service.getFile(req.params.id));

  app.delete<{ Params: { id: string } }>('/v1/files/:id', async (req) => service.deleteFile(req.params.id));

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', async (req, reply) => {
    const { file, stream } = await service.fileContent(req.params.id);
    void reply.header('content-type', 'application/octet-stream')
      .header('content-length', String(file.bytes))
      .header('content-disposition', `attachment; filename="${file.filename.replace(/["\\\r\n]/g, '_')}"`);
    return reply.send(stream);
  });
}
