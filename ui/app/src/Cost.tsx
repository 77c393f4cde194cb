import type { CostSide, RunCost } from './api';

/** The file a price table was read from, without its folders (the whole path is the tooltip). */
const fileName = (path: string) => path.split(/[\\/]/).pop() ?? path;

/** One side of a cost: the money first when the run has prices, then what was used; what was used alone when it has none. */
export function CostFigure({ side, nothing }: { side: CostSide; nothing: string }) {
  if (side.money === null)
    return side.resources === '' ? <span className="muted">{nothing}</span> : <strong className="cost-resources">{side.resources}</strong>;
  return (
    <>
      <strong className="money">{side.money}</strong>
      {side.resources !== '' && <span className="cost-resources"> ({side.resources})</span>}
      {side.unpriced.length > 0 && (
        <span className="unpriced" title="used but not in the price table: the money is a floor">
          {' '}
          + unpriced: {side.unpriced.join(', ')}
        </span>
      )}
    </>
  );
}

/** The run's cost under its title: what it spent, what the cache saved it, and where its prices came from. */
export function RunCostLine({ cost }: { cost: RunCost }) {
  return (
    <div className="cost-line" aria-label="cost">
      <span className="cost-side" data-cost="spent">
        <span className="cost-label">spent</span> <CostFigure side={cost.spent} nothing="nothing measurable" />
      </span>
      <span className="cost-side" data-cost="saved">
        <span className="cost-label">saved by the cache</span> <CostFigure side={cost.saved} nothing="nothing" />
      </span>
      {cost.prices === null ? (
        <span className="cost-hint">resources only: a price table (FLYWHEEL_PRICES or flywheel.prices.json) turns them into money</span>
      ) : (
        <span className="cost-hint" title={cost.prices.source}>
          prices in {cost.prices.currency} from {fileName(cost.prices.source)}
        </span>
      )}
    </div>
  );
}

/** A step's tokens by model, under its spent or saved figure. */
export function TokenLines({ side }: { side: CostSide }) {
  if (side.tokens.length === 0) return null;
  return (
    <ul className="token-lines">
      {side.tokens.map((line) => (
        <li key={line}>{line}</li>
      ))}
    </ul>
  );
}
