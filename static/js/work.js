// Proof of work for one expensive request (portal/admission/work.py, portal/crypto/puzzle.py).
//
// The server hands out a signed, single-use challenge for one action ("report",
// "sign-in" or "reply"); this device solves it and the answer travels with the
// request. When the portal is quiet that takes a few milliseconds; under a flood
// it can take a few seconds, which is what keeps the portal open for everyone.
//
// Markup contract: the form carries data-challenge-url="/challenge/<action>".

import { solvePuzzle } from './portal-crypto.js';

/** Fetch a challenge and solve it; resolves to the two fields the server expects. */
export async function proofOfWork(challengeUrl, onProgress) {
  const response = await fetch(challengeUrl, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
  if (!response.ok) throw new Error('challenge unavailable');
  const challenge = await response.json();
  if (challenge.algorithm !== 'SHA-256' || typeof challenge.challenge !== 'string') throw new Error('challenge malformed');
  const solution = await solvePuzzle(challenge, { onProgress });
  return { pow_challenge: challenge.challenge, pow_solution: String(solution) };
}

/** Add the answer to a FormData about to be posted with fetch (call before appending files). */
export function appendWork(body, work) {
  for (const [name, value] of Object.entries(work)) body.append(name, value);
}

/**
 * For a form posted the ordinary way (this browser cannot encrypt here): the answer as hidden
 * inputs at the start of the form, so it reaches the server before any file. Such a request
 * goes ahead of requests without proof of work in the server's line for Argon2id.
 */
export function addWorkInputs(form, work) {
  for (const [name, value] of Object.entries(work)) {
    let input = form.querySelector(`input[type="hidden"][name="${name}"]`);
    if (!input) {
      input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      form.prepend(input);
    }
    input.value = value;
  }
}

/** Best effort before an ordinary post: a failure here never stops the form being sent. */
export async function tryAddWorkInputs(form) {
  if (!form.dataset.challengeUrl) return;
  try {
    addWorkInputs(form, await proofOfWork(form.dataset.challengeUrl));
  } catch {
    // no proof of work: the request simply waits its turn behind those that carry one
  }
}
