/**
 * Every `modelfab ...` command the README shows (code blocks and inline code) parses against the real program: the
 * command exists, every option is known and has its value, required arguments and options are present. A dry run:
 * each command's action is replaced by a recorder before parsing, so nothing runs. Lists of subcommands
 * (`modelfab keys create|list|revoke`) check that each named command exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { buildProgram } from '../../src/cli/program.ts';

const ROOT = new URL('../../', import.meta.url);
/** The documents whose commands must run: the README, the architecture map and the bots' guide. */
const DOCS = ['README.md', 'ARCHITECTURE.md', 'src/bots/README.md'];

/** Splits a command line like a shell would (quotes, no expansion). */
function words(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m: RegExpExecArray | null; (m = re.exec(s));) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** A `#` comment ends a line of a code block (outside quotes). */
function stripComment(line: string): string {
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) { if (c === q) q = null; } else if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/** The `modelfab ...` commands of a Markdown text, with the line they start on. */
function readmeCommands(md: string): { line: number; text: string }[] {
  const lines = md.split('\n');
  const out: { line: number; text: string }[] = [];
  const prose: string[] = [];
  let fenced = false;
  lines.forEach((l, i) => {
    if (/^\s*```/.test(l)) { fenced = !fenced; prose.push(''); return; }
    const code = fenced || /^( {4}|\t)/.test(l);
    if (code) {
      const t = stripComment(l).trim().replace(/^\$\s+/, '');
      if (/^modelfab\s/.test(t)) out.push({ line: i + 1, text: t });
      prose.push('');
    } else prose.push(l);
  });
  // inline code may wrap across lines
  const text = prose.join('\n');
  const re = /`([^`]+)`/g;
  for (let m: RegExpExecArray | null; (m = re.exec(text));) {
    const t = m[1]!.replace(/\s+/g, ' ').trim();
    if (/^modelfab\s/.test(t)) out.push({ line: text.slice(0, m.index).split('\n').length, text: t });
  }
  return out;
}

/** The program with every action replaced by a recorder and every exit turned into an exception. */
function dryProgram(): { program: Command; ran: Command[] } {
  const program = buildProgram();
  const ran: Command[] = [];
  const walk = (c: Command) => {
    c.exitOverride();
    c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    if ((c as unknown as { _actionHandler: unknown })._actionHandler) c.action(function (this: Command) { ran.push(this); });
    for (const s of c.commands) walk(s);
  };
  walk(program);
  return { program, ran };
}

const find = (parent: Command, name: string) => parent.commands.find((c) => c.name() === name || c.aliases().includes(name));

/** The argument vectors a README command stands for: `a b|c` and `a b X | c Y` are alternatives under `a`. */
function expand(text: string): { argv: string[]; mention: boolean }[] {
  const segments = text.split('|').map((s) => words(s.trim()));
  const [first, ...rest] = segments;
  assert.equal(first![0], 'modelfab');
  const argv = first!.slice(1);
  // the deepest command the first segment names: its parent is where the alternatives live
  let parent = buildProgram();
  let path: string[] = [];
  let cmd: Command | undefined;
  for (const w of argv) {
    const next = find(cmd ?? parent, w);
    if (!next) break;
    if (cmd) { parent = cmd; path = [...path, cmd.name()]; }
    cmd = next;
  }
  const alternation = rest.length > 0;
  const out = [{ argv, mention: alternation && argv.length === path.length + 1 }];
  for (const seg of rest) out.push({ argv: [...path, ...seg], mention: seg.length === 1 });
  return out;
}

async function check(argv: string[], mention: boolean): Promise<string | null> {
  const { program, ran } = dryProgram();
  if (mention) {
    let c: Command | undefined = program;
    for (const w of argv) { c = c && find(c, w); if (!c) return `no command "${argv.join(' ')}"`; }
    return null;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.message;
    throw e;
  }
  return ran.length === 1 ? null : `"${argv.join(' ')}" names a group of commands, not one command`;
}

test('the README extractor finds every kind of command line', () => {
  const cmds = readmeCommands([
    'Text with `modelfab serve --data x` and `modelfab keys', 'create|list|revoke` inline.', '',
    '    modelfab jobs list | show ID   # a comment', '', '```', 'modelfab info --json', '```', 'not `modelfab.db` nor `npm test`',
  ].join('\n')).map((c) => c.text);
  assert.deepEqual(cmds.sort(), ['modelfab info --json', 'modelfab jobs list | show ID', 'modelfab keys create|list|revoke', 'modelfab serve --data x']);
  assert.deepEqual(expand('modelfab jobs list | show ID').map((x) => x.argv), [['jobs', 'list'], ['jobs', 'show', 'ID']]);
  assert.deepEqual(expand('modelfab deploy|undeploy|routes').map((x) => [x.argv, x.mention]), [[['deploy'], true], [['undeploy'], true], [['routes'], true]]);
});

test('the dry run refuses what the real program refuses', async () => {
  assert.match((await check(['bots', 'build', 'only-a-file.md'], false))!, /missing required argument 'file'/);
  assert.match((await check(['bench', 'show', '--data-dir', 'x'], false))!, /unknown option '--data-dir'/);
  assert.match((await check(['no-such-command'], false))!, /unknown command/);
  assert.match((await check(['routes'], false)) ?? '', /./); // a group alone is no command
  assert.equal(await check(['keys', 'create', 'ci', '--manage', 'datasets,files', '--json'], false), null);
});

test('every modelfab command shown in the README (and the other guides) parses against the CLI', async () => {
  const problems: string[] = [];
  for (const doc of DOCS) {
    const cmds = readmeCommands(readFileSync(new URL(doc, ROOT), 'utf8'));
    if (doc === 'README.md') assert.ok(cmds.length >= 15, `only ${cmds.length} commands found in the README`);
    for (const c of cmds) {
      for (const { argv, mention } of expand(c.text)) {
        const p = await check(argv, mention);
        if (p) problems.push(`${doc}:${c.line}: \`${c.text}\`: ${p}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
