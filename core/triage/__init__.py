"""Triage: the photographer's decisions (approve, reject, stars, colour labels), each committed
with its entry in the Decision log before the caller moves on, and undo / redo from that log
(each session's own first); the queue the app culls, its order, counters and kept position."""
