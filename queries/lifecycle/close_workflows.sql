-- Closing a run: workflows that never ended end `cancelled` with the reason,
-- so nothing counts them as in flight any more. Primary-key range scan.
UPDATE workflows
SET state       = 'cancelled',
    ended_at_us = max(:end_us, created_at_us),
    error       = :reason
WHERE id BETWEEN :first AND :last
  AND ended_at_us IS NULL
