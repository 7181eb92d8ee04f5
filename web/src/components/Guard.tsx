/**
 * What the guard did to an answer: a badge for its outcome (nothing when it passed, unless `always`) and a
 * disclosure with every verdict (stage, check, action, reason, latency). Used by the playground and the request log.
 */
import type { GuardOutcome, GuardVerdict } from '../api';
import { useI18n } from '../i18n';
import { fmtNum } from './ui';

const CLASS: Record<GuardOutcome, string> = { passed: 's-succeeded', flagged: 's-paused', rewritten: 's-running', refused: 's-failed' };

export function OutcomeBadge({ outcome }: { outcome: GuardOutcome | null }) {
  const { t } = useI18n();
  if (!outcome) return <span className="muted">–</span>;
  return <span className={`badge ${CLASS[outcome] ?? ''}`} data-testid="guard-badge" data-outcome={outcome}>{t(`guard.${outcome}`, {}, outcome)}</span>;
}

export function Verdicts({ verdicts }: { verdicts: GuardVerdict[] }) {
  const { t } = useI18n();
  if (!verdicts.length) return <p className="muted">{t('guard.noVerdicts')}</p>;
  return (
    <div className="table-wrap"><table className="verdicts" data-testid="verdicts">
      <thead><tr><th scope="col">{t('guard.stage')}</th><th scope="col">{t('guard.check')}</th><th scope="col">{t('guard.action')}</th><th scope="col">{t('guard.reason')}</th><th scope="col">{t('guard.ms')}</th></tr></thead>
      <tbody>{verdicts.map((v, i) => (
        <tr key={i} className={v.triggered ? 'triggered' : undefined}>
          <td>{t(`guard.${v.stage}`, {}, v.stage)}</td>
          <td><span className="mono">{v.check}</span> <span className="muted small">{v.kind}</span></td>
          <td>{t(`guard.${v.action}`, {}, v.action)}{v.error ? ` (${t('guard.error')})` : ''}</td>
          <td className="small">{v.reason}{v.matches?.length ? <> · <span className="mono">{v.matches.join(', ')}</span></> : null}</td>
          <td>{fmtNum(v.latency_ms, 1)}</td>
        </tr>
      ))}</tbody>
    </table></div>
  );
}

/** Under an answer: the outcome badge and the verdicts behind a disclosure; nothing when the guard let it pass. */
export function GuardNote({ guard }: { guard?: { policies: string[]; outcome: GuardOutcome; verdicts: GuardVerdict[] } }) {
  const { t } = useI18n();
  if (!guard || guard.outcome === 'passed') return null;
  return (
    <div className="guard-note">
      <OutcomeBadge outcome={guard.outcome} />
      <details data-testid="guard-details">
        <summary>{t('guard.details', { n: guard.verdicts.length, policies: guard.policies.join(', ') })}</summary>
        <Verdicts verdicts={guard.verdicts} />
      </details>
    </div>
  );
}
