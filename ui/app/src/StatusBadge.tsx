/** A run's or step's status as a coloured pill. */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

/** Beside a step's status: it ran but decided not to act (`ctx.decline`); the reason shows on hover. */
export function DeclinedBadge({ reason }: { reason?: string | undefined }) {
  return (
    <span className="badge declined" title={reason}>
      declined
    </span>
  );
}
