"""Pure time logic: fire times, cron in words, durations, retry backoff. No I/O;
every function takes the time it needs as an argument."""
