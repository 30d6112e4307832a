"""Everything that reads or writes Redis state: comments, the queue, waiters, audit,
sessions, API keys, word lists, clients, the embedded server, and one codec for it all."""
