-- Workshop questions of showcases (broker-owned). `votes` is kept equal to the number of rows
-- in `showcase_question_votes` (one per user, inserted with the increment in one transaction).
-- `status`: open (in the queue), answered (the artist marked it), hidden (the host or an
-- operator removed it; shown to them only).
create table showcase_questions (
    question_id   uuid primary key,
    showcase_id   uuid not null references showcases (showcase_id),
    author_id     uuid not null,
    author_handle text not null,
    text          text not null,
    votes         integer not null default 0,
    status        text not null default 'open'
        constraint showcase_questions_status_check check (status in ('open', 'answered', 'hidden')),
    created_at    timestamptz not null default now(),
    answered_at   timestamptz,
    hidden_at     timestamptz,
    staged_at     timestamptz
);
comment on table showcase_questions is 'owner: broker';
create index showcase_questions_queue_idx on showcase_questions (showcase_id, votes desc, created_at);
create index showcase_questions_author_idx on showcase_questions (showcase_id, author_id);

create table showcase_question_votes (
    question_id uuid not null references showcase_questions (question_id),
    user_id     uuid not null,
    created_at  timestamptz not null default now(),
    constraint showcase_question_votes_pkey primary key (question_id, user_id)
);
comment on table showcase_question_votes is 'owner: broker';
