/**
 * The bots' retrievers on the server: each trained as a factory job (the retriever stage, factory/retriever-job.ts),
 * found again by the job's metadata, and used through the gateway, which serves the job's model at /v1/embeddings,
 * so a bot embeds with the very backend its API clients call. Wires `RetrieverJobs` (knowledge/retriever.ts) for the bots and the knowledge bases.
 */
import type { FactoryService } from '../factory/factory-service.ts';
import type { JobRecord } from '../factory/job-repository.ts';
import type { Gateway } from '../serve/gateway.ts';
import type { Embedder } from '../knowledge/embed.ts';
import type { RetrieverJobs, RetrieverJobState } from '../knowledge/retriever.ts';

/** An embedding model the gateway serves, as an `Embedder` (its size learnt from one embedding). */
export async function gatewayEmbedder(gateway: Gateway, model: string): Promise<Embedder> {
  const probe = await gateway.embed(model, ['检索 retrieval']);
  const dims = probe.vectors[0]?.length ?? 0;
  if (!dims) throw new Error(`model ${model} returned no embedding`);
  return {
    name: model, dims, semantic: true,
    async embed(texts) { return (await gateway.embed(model, texts)).vectors.map((v) => Float32Array.from(v)); },
  };
}

/** The factory's retriever jobs and the gateway's models, for the bots. `factory` is asked at each call (made after the bots). */
export function factoryRetrieverJobs(factory: () => FactoryService, gateway: Gateway): RetrieverJobs {
  const state = (j: JobRecord): RetrieverJobState => ({ id: j.id, status: j.status, model: factory().fineTunedName(j), error: j.status === 'failed' ? j.error ?? 'the trainer failed' : null });
  return {
    async find(metadata) {
      const [j] = (await factory().listJobs({ metadata, limit: 1 })).data;
      return j ? state(j) : null;
    },
    async submit(r) {
      return state(await factory().createRetrieverJob({ name: r.name, units: r.units, questions: r.questions, validation: r.validation, lexicon: r.lexicon, dataset: r.dataset, metadata: r.metadata }));
    },
    async state(id) { return state(await factory().getJob(id)); },
    embedder: (model) => gatewayEmbedder(gateway, model),
  };
}
