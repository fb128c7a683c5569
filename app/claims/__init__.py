"""The claim protocol: how a due slot of a job becomes exactly one running attempt
at a time, and how its execution is recorded and the job moved on, whatever dies.

docs/design.md, "The claim lifecycle", holds the whole state table; in brief:

| step               | by                 | statement               | fenced by            |
| ------------------ | ------------------ | ----------------------- | -------------------- |
| claim (25 ms ahead)| tick               | CLAIM_DUE               | SKIP LOCKED, expiry  |
| claim by flow key  | tick               | LOCK_FLOWS_DUE, then    | the key's row lock   |
|                    |                    | CLAIM_DUE_FLOWS         |                      |
| send               | tick               | (run messages, <= 16)   |                      |
| start an attempt   | worker             | START_ATTEMPTS_IF_HELD  | token, attempt key   |
| renew              | ClaimKeeper        | RENEW_IF_HELD           | token                |
| hold for retry     | worker             | HOLD_FOR_RETRY_IF_HELD  | token, attempt key   |
| a keyed retry's go | worker             | START_FLOW_ATTEMPT      | the key's row lock   |
| detach ('allow')   | worker             | DETACH_IF_HELD          | token, attempt key   |
| a run's start, renew, hold, finish, give back: the *_RUNS_* twins | run's token |
| a run's rescue     | tick               | CLAIM_EXPIRED_RUNS      | SKIP LOCKED, expiry  |
| finish and advance | worker             | FINISH_MANY             | token, schedule read |
| advance as it is   | worker             | ADVANCE_IF_HELD         | token, row lock      |
| release (give back)| tick, worker, dev  | RELEASE_IF_HELD         | token                |
| expiry (rescue)    | the next CLAIM_DUE | EXPIRED, FREE_TO_CLAIM  |                      |

Words, one per idea:
- slot: one fire time of a job (its next_run), or a run-now request.
- claim: a tick's hold on one slot of one job: a token, an owner and an expiry
  (the columns lock_token, locked_by, locked_until; the option
  scheduler-max-job-lock-time is how long a claim lasts unless renewed).
- token: a fresh UUID per claim; every later step changes the job only while it
  still matches.
- attempt key: a fresh UUID per attempt; a claim runs one attempt at a time, and
  a finish tried again records nothing more.
- delivery id: a UUID derived from the job and the slot, the same for every
  attempt and every re-claim of that slot; receivers de-duplicate on it.

Modules: `values` (what is passed around), `statements` (the SQL), `protocol`
(the calls), `tick` (the claiming loop), `batching` (group commit of a worker's
finishes), `keeper` (renewal of running attempts' claims). Nothing
here imports Dramatiq: the transport is the caller's.
"""

from app.claims.protocol import (
    claim_due,
    claim_expired_runs,
    claim_flows,
    detach,
    finish,
    finish_many,
    hold_for_retry,
    release,
    renew,
    start_attempt,
    start_attempts,
    start_flow_attempt,
)
from app.claims.values import Basis, Claim, Claimed, Definition, Finishing, Outcome

__all__ = [
    "Basis",
    "Claim",
    "Claimed",
    "Definition",
    "Finishing",
    "Outcome",
    "claim_due",
    "claim_expired_runs",
    "claim_flows",
    "detach",
    "finish",
    "finish_many",
    "hold_for_retry",
    "release",
    "renew",
    "start_attempt",
    "start_attempts",
    "start_flow_attempt",
]
