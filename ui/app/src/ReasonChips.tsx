/** A step's reason codes as small chips (cache-hit, config-changed, …). */
export function ReasonChips({ codes }: { codes: readonly string[] }) {
  if (codes.length === 0) return null;
  return (
    <span className="chips">
      {codes.map((code) => (
        <span key={code} className={`chip chip-${code}`}>
          {code}
        </span>
      ))}
    </span>
  );
}
