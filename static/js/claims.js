// A check report's claims with their evidence, coloured by verdict (supported green,
// contradicted red, unsupported amber, unchecked grey). Shared by the chat and task pages.
// Model text goes in with textContent only. Claims are divs and spans, not list items, so
// they sit beside a page's own lists (flags, subtasks) without mixing with them; a claim's
// verdict is a `claim-verdict` pill, not a `badge`, for the same reason.

export const CLAIM_VERDICTS = ['supported', 'contradicted', 'unsupported', 'unchecked'];

// "likely hallucinated" -> "likely-hallucinated": one class per verdict.
export function verdictClass(verdict) {
  return String(verdict ?? 'unchecked').replaceAll(' ', '-');
}

export function badge(value) {
  const node = document.createElement('span');
  node.className = `badge ${verdictClass(value)}`;
  node.textContent = value;
  return node;
}

function part(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function claimItem(claim) {
  const verdict = CLAIM_VERDICTS.includes(claim.verdict) ? claim.verdict : 'unchecked';
  const item = part('div', `claim ${verdict}`);
  item.dataset.verdict = verdict;
  const head = part('div', 'claim-head');
  head.append(part('span', `claim-verdict ${verdict}`, verdict), ' ',
    part('span', 'claim-text', claim.text ?? ''));
  if (typeof claim.score === 'number') {
    head.append(' ', part('span', 'muted', `(${claim.score.toFixed(2)})`));
  }
  item.append(head);
  for (const evidence of claim.evidence ?? []) {
    const quote = part('div', 'evidence');
    quote.append(part('span', 'evidence-text', evidence.text ?? ''));
    if (Number.isInteger(evidence.source)) {
      quote.append(' ', part('span', 'muted', `source ${evidence.source + 1}`));
    } else if (Number.isInteger(evidence.sample)) {
      quote.append(' ', part('span', 'muted', `sample ${evidence.sample + 1}`));
    }
    item.append(quote);
  }
  if (claim.reasons?.length) {
    item.append(part('div', 'claim-reasons muted', claim.reasons.join(' ')));
  }
  return item;
}

// The claims of a report as one element, or null when the report has none (reports
// from before claim-level checks, or an answer without a checkable claim).
export function renderClaims(report) {
  const claims = report?.claims ?? [];
  if (!claims.length) return null;
  const box = part('div', 'claims');
  const counts = CLAIM_VERDICTS.map((v) => [v, claims.filter((c) => c.verdict === v).length])
    .filter(([, n]) => n).map(([v, n]) => `${n} ${v}`);
  box.append(part('div', 'claims-summary muted', `Claims: ${counts.join(', ')}`));
  claims.forEach((claim) => box.append(claimItem(claim)));
  return box;
}
