// The operator's moderation queue: reported posts with every report's reason; hide a post
// with a reason its author is shown, or keep it (which clears its reports).
import { useCallback, useEffect, useState } from 'react';
import { type ReportedPost, neighbourhood as nb } from '../api';
import { Feedback, ago, message, useAction } from './common';

export function Moderation() {
  const [queue, setQueue] = useState<ReportedPost[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => nb.reports().then(setQueue, (e: unknown) => setError(message(e))), []);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section aria-labelledby="mod-title" className="nb">
      <h1 id="mod-title">Moderation</h1>
      <Feedback error={error} />
      {queue === null ? (
        <p aria-busy="true">Loading…</p>
      ) : queue.length === 0 ? (
        <p className="muted">No reported posts.</p>
      ) : (
        <ol className="posts" aria-label="Reported posts">
          {queue.map((r) => (
            <Reported key={r.post.id} r={r} onDone={() => void load()} />
          ))}
        </ol>
      )}
    </section>
  );
}

function Reported(p: { r: ReportedPost; onDone: () => void }) {
  const [reason, setReason] = useState('');
  const [run, error, busy] = useAction();
  const post = p.r.post;
  return (
    <li className="card post" data-post={post.id}>
      <p>
        <strong>{post.category}</strong> · <span className="muted">{ago(post.created_ms)}</span>
      </p>
      <p className="post-body">{post.body}</p>
      {post.media.length > 0 && (
        <div className="post-media">
          {post.media.map((m) =>
            m.kind === 'clip' ? (
              <video key={m.id} src={`/api/moderation/media/${m.id}`} controls muted playsInline preload="metadata" aria-label="Reported clip" />
            ) : (
              <img key={m.id} src={`/api/moderation/media/${m.id}`} alt="Reported photo" loading="lazy" />
            ),
          )}
        </div>
      )}
      <p>Reports ({p.r.reports.length}):</p>
      <ul>
        {p.r.reports.map((x, i) => (
          <li key={i}>
            {x.reason} <span className="muted">{ago(x.created_ms)}</span>
          </li>
        ))}
      </ul>
      <label className="field">
        Reason for hiding (its author sees it)
        <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} />
      </label>
      <div className="row">
        <button
          disabled={busy}
          onClick={() =>
            void run(async () => {
              await nb.moderate(post.id, 'hide', reason);
              p.onDone();
            })
          }
        >
          Hide post
        </button>
        <button
          className="link"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              await nb.moderate(post.id, 'keep');
              p.onDone();
            })
          }
        >
          Keep it and clear the reports
        </button>
      </div>
      <Feedback error={error} />
    </li>
  );
}
