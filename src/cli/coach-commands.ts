/**
 * `modelfab coach ...`: Emoti Coach on the running server — scenarios (list, show, put: the organisation's own from
 * a JSON file, validated with every problem named; delete), practice (a conversation in the terminal: the persona
 * answers, each message is scored; /finish or Ctrl-D ends it with the session's judgement), start / say / finish
 * (the same one step at a time), sessions and report (progress across sessions). Thin over /v1/coach/...
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import type { Scenario } from '../coach/coach-scenario.ts';
import type { CoachSession } from '../coach/coach-repository.ts';
import type { TurnJudgement } from '../coach/coach-judge.ts';
import type { CoachReport } from '../coach/coach-report.ts';
import { ApiClient, clientOptions, out, remote, seg, type Remote } from './client.ts';
import { readUserJson } from './user-files.ts';

type Session = Omit<CoachSession, 'key_id'>;
type TurnAnswer = { reply: string; judgement: TurnJudgement; session: Session };

const scores = (j: { scores: Array<{ criterion: string; score: number; quote: string; comment: string }> }) =>
  j.scores.map((s) => `  ${s.criterion.padEnd(12)} ${s.score}/5  ${s.comment}${s.quote ? `  «${s.quote}»` : ''}`).join('\n');

function judgementText(s: Session): string {
  const j = s.judgement!;
  return [`score ${s.score}/100`, scores(j), ...j.goals.map((g) => `  goal ${g.goal} ${g.met ? 'met    ' : 'not met'} ${s.scenario.goals[g.goal - 1] ?? ''}`), '', j.summary].join('\n');
}

export function registerCoach(program: Command): void {
  const c = program.command('coach').description('Emoti Coach on the server: practice conversations with a persona, scored by a judge model');
  const sc = c.command('scenarios').description("practice scenarios: the shipped ones and the organisation's own");

  remote(sc.command('list').description('every scenario')).action(async (o: Remote) => {
    const { data } = await new ApiClient(clientOptions(o)).get<{ data: Array<Scenario & { source: string }> }>('/v1/coach/scenarios');
    out(o.json, data, () => data.map((s) => `${s.id.padEnd(22)} ${s.language}  ${s.source.padEnd(12)} ${s.title}`).join('\n'));
  });
  remote(sc.command('show <id>').description('a scenario as JSON (a starting point for your own)')).action(async (id: string, o: Remote) => {
    const { object: _o, source: _s, ...s } = await new ApiClient(clientOptions(o)).get<Scenario & { object: string; source: string }>(`/v1/coach/scenarios/${seg(id)}`);
    console.log(JSON.stringify(s, null, 2));
  });
  remote(sc.command('put <file>').description("upload the organisation's scenario (JSON: id, title, language, persona, goals, policies, knowledge, rubric)")).action(async (file: string, o: Remote) => {
    const s = readUserJson<{ id?: unknown }>(file);
    if (typeof s.id !== 'string') throw new Error(`${file}: the scenario needs an "id"`);
    const r = await new ApiClient(clientOptions(o)).put<Scenario>(`/v1/coach/scenarios/${seg(s.id)}`, s);
    out(o.json, r, () => `saved scenario ${r.id}: ${r.title}`);
  });
  remote(sc.command('delete <id>').description("delete one of the organisation's scenarios")).action(async (id: string, o: Remote) => {
    out(o.json, await new ApiClient(clientOptions(o)).delete(`/v1/coach/scenarios/${seg(id)}`), () => `deleted ${id}`);
  });

  const models = (cmd: Command) => cmd.requiredOption('--model <model>', 'the model that plays the persona').option('--judge <model>', 'the model that scores (default: --model)');

  remote(models(c.command('practice <scenario>').description('practise in the terminal: each line you type is answered and scored; /finish or Ctrl-D ends it')))
    .action(async (scenario: string, o: Remote & { model: string; judge?: string }) => {
      const client = new ApiClient(clientOptions(o));
      const s = await client.post<Session>('/v1/coach/sessions', { scenario, model: o.model, ...(o.judge ? { judge_model: o.judge } : {}) });
      console.log(`${s.scenario.title}\n${s.scenario.description}\n\n${s.scenario.persona.name}: ${s.turns[0]!.content}`);
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      try {
        for (;;) {
          let line: string;
          try { line = (await rl.question(process.stdin.isTTY ? '> ' : '')).trim(); } catch { break; }
          if (line === '/finish') break;
          if (!line) continue;
          const r = await client.post<TurnAnswer>(`/v1/coach/sessions/${seg(s.id)}/messages`, { content: line });
          console.log(`${scores(r.judgement)}\n  tip: ${r.judgement.tip}\n\n${s.scenario.persona.name}: ${r.reply}`);
        }
      } finally { rl.close(); }
      const done = await client.post<Session>(`/v1/coach/sessions/${seg(s.id)}/finish`, {});
      console.log(`\n${judgementText(done)}`);
    });

  remote(models(c.command('start <scenario>').description('start a session (then: coach say, coach finish)'))).action(async (scenario: string, o: Remote & { model: string; judge?: string }) => {
    const s = await new ApiClient(clientOptions(o)).post<Session>('/v1/coach/sessions', { scenario, model: o.model, ...(o.judge ? { judge_model: o.judge } : {}) });
    out(o.json, s, () => `${s.id}\n${s.scenario.persona.name}: ${s.turns[0]!.content}`);
  });
  remote(c.command('say <session> <text>').description('say something in a session: the persona answers, the judge scores it')).action(async (id: string, text: string, o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).post<TurnAnswer>(`/v1/coach/sessions/${seg(id)}/messages`, { content: text });
    out(o.json, r, () => `${scores(r.judgement)}\n  tip: ${r.judgement.tip}\n\n${r.session.scenario.persona.name}: ${r.reply}`);
  });
  remote(c.command('finish <session>').description("end a session: the judge's verdict on the whole conversation")).action(async (id: string, o: Remote) => {
    const s = await new ApiClient(clientOptions(o)).post<Session>(`/v1/coach/sessions/${seg(id)}/finish`, {});
    out(o.json, s, () => judgementText(s));
  });
  remote(c.command('sessions').description('your sessions, oldest first')).option('--scenario <id>', 'only this scenario').action(async (o: Remote & { scenario?: string }) => {
    const { data } = await new ApiClient(clientOptions(o)).get<{ data: Session[] }>(`/v1/coach/sessions${o.scenario ? `?scenario=${encodeURIComponent(o.scenario)}` : ''}`);
    out(o.json, data, () => data.map((s) => `${s.id}  ${new Date(s.created_at).toISOString().slice(0, 16)}  ${s.scenario.id.padEnd(20)} ${s.status.padEnd(8)} ${s.score ?? '-'}`).join('\n') || '(no sessions)');
  });
  remote(c.command('report').description('progress across your finished sessions')).option('--scenario <id>', 'only this scenario').action(async (o: Remote & { scenario?: string }) => {
    const r = await new ApiClient(clientOptions(o)).get<CoachReport>(`/v1/coach/report${o.scenario ? `?scenario=${encodeURIComponent(o.scenario)}` : ''}`);
    out(o.json, r, () => (r.sessions.length ? [
      ...r.sessions.map((s) => `${new Date(s.created_at).toISOString().slice(0, 16)}  ${s.scenario_id.padEnd(20)} ${String(s.score).padStart(5)}  goals ${s.goals_met}/${s.goals}`),
      '', ...r.criteria.map((x) => `${x.name.padEnd(20)} first ${x.first}  last ${x.last}  best ${x.best}  mean ${x.mean}`),
      '', `change: ${r.change! >= 0 ? '+' : ''}${r.change}`,
    ].join('\n') : '(no finished sessions yet)'));
  });
}
