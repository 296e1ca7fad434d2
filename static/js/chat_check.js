// The Chat page's Check button: asks /api/check about one answer and shows the verdict,
// the problems that kept it from checking, and the claims with their evidence.

import { api } from './common.js';
import { badge as verdictBadge, renderClaims } from './claims.js';

export async function checkAnswer(messageId, button, result) {
  button.disabled = true;
  result.replaceChildren();
  result.textContent = 'Checking…';
  try {
    const report = await api('/api/check', { method: 'POST', body: { messageId } });
    result.replaceChildren();
    const verdict = document.createElement('p');
    verdict.append(verdictBadge(report.verdict), ` score ${report.score}`);
    result.append(verdict);
    // Without these a check that could not sample would read as a clean 'ok'.
    for (const problem of report.problems ?? []) {
      const note = document.createElement('p');
      note.className = 'error';
      note.textContent = problem.message;
      result.append(note);
    }
    if (report.reason) {
      const why = document.createElement('p');
      why.className = 'muted check-reason';
      why.textContent = report.reason;
      result.append(why);
    }
    // Claims with their evidence say everything the flags say; the flags remain for
    // reports without claims.
    const claims = renderClaims(report);
    if (claims) {
      result.append(claims);
    } else if (report.flags?.length) {
      const flags = document.createElement('ul');
      for (const flag of report.flags) {
        const entry = document.createElement('li');
        const sentence = document.createElement('q');
        sentence.textContent = flag.sentence;
        entry.append(sentence, ` ${flag.reason}`);
        flags.append(entry);
      }
      result.append(flags);
    }
  } catch (error) {
    result.textContent = `Check failed: ${error.message}`;
    result.classList.add('error');
  } finally {
    button.disabled = false;
  }
}
