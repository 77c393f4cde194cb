// The task catalog of Flow-style workflows (../shared/CONTEXT.md): which triggers provide which data,
// what each action needs and takes as config, and the typed fields conditions may test. The validator,
// the corpus generator and the trajectory builder all read this one table.

export type FieldType = 'Integer' | 'Float' | 'String' | 'Boolean' | 'Date' | 'Money' | 'Decimal' | 'Enum';
/** A field is a scalar, a list of scalars, or a list of objects of another resource (e.g. order.lineItems). */
export type FieldSpec = FieldType | { list: FieldType } | { listOf: Resource };

export type Resource =
  | 'shop'
  | 'order'
  | 'lineItem'
  | 'customer'
  | 'product'
  | 'variant'
  | 'refund'
  | 'dispute'
  | 'discount'
  | 'collection'
  | 'fulfillment'
  | 'return'
  | 'subscription'
  | 'segment'
  | 'inventory'
  | 'draftOrder'
  | 'schedule';

export const RESOURCE_FIELDS: Record<Resource, Record<string, FieldSpec>> = {
  shop: { name: 'String', email: 'String', currency: 'Enum' },
  order: {
    id: 'String',
    name: 'String',
    email: 'String',
    note: 'String',
    totalPrice: 'Money',
    subtotalPrice: 'Money',
    totalDiscounts: 'Money',
    totalWeight: 'Decimal',
    currency: 'Enum',
    financialStatus: 'Enum',
    fulfillmentStatus: 'Enum',
    riskLevel: 'Enum',
    createdAt: 'Date',
    test: 'Boolean',
    tags: { list: 'String' },
    discountCodes: { list: 'String' },
    lineItems: { listOf: 'lineItem' },
  },
  lineItem: { title: 'String', sku: 'String', vendor: 'String', quantity: 'Integer', price: 'Money', requiresShipping: 'Boolean' },
  customer: {
    id: 'String',
    email: 'String',
    firstName: 'String',
    lastName: 'String',
    phone: 'String',
    note: 'String',
    amountSpent: 'Money',
    numberOfOrders: 'Integer',
    state: 'Enum',
    acceptsMarketing: 'Boolean',
    createdAt: 'Date',
    tags: { list: 'String' },
  },
  product: {
    id: 'String',
    title: 'String',
    vendor: 'String',
    productType: 'String',
    status: 'Enum',
    totalInventory: 'Integer',
    createdAt: 'Date',
    tags: { list: 'String' },
    variants: { listOf: 'variant' },
  },
  variant: { title: 'String', sku: 'String', price: 'Money', inventoryQuantity: 'Integer', weight: 'Float' },
  refund: { amount: 'Money', note: 'String', createdAt: 'Date', restock: 'Boolean' },
  dispute: { amount: 'Money', reason: 'Enum', status: 'Enum', evidenceDueBy: 'Date' },
  discount: { code: 'String', usageCount: 'Integer', startsAt: 'Date', value: 'Decimal' },
  collection: { title: 'String', handle: 'String', productsCount: 'Integer' },
  fulfillment: { status: 'Enum', trackingCompany: 'String', trackingNumber: 'String', createdAt: 'Date' },
  return: { status: 'Enum', reason: 'Enum', requestedAt: 'Date', totalQuantity: 'Integer' },
  subscription: { status: 'Enum', errorCode: 'Enum', amount: 'Money', attemptCount: 'Integer' },
  segment: { name: 'String', size: 'Integer' },
  inventory: { available: 'Integer', previousAvailable: 'Integer', locationName: 'String' },
  draftOrder: { name: 'String', totalPrice: 'Money', status: 'Enum', tags: { list: 'String' }, createdAt: 'Date' },
  schedule: { scheduledAt: 'Date' },
};

export type TaskType = 'TRIGGER' | 'CONDITION' | 'ACTION' | 'FOREACH' | 'WAIT';

/** What kind of config value a task takes; `required` fields must be present. */
export type ConfigKind = 'string' | 'nonEmptyString' | 'stringList' | 'email' | 'url' | 'integer' | 'duration' | 'httpMethod' | 'json' | 'fieldPath';
export interface ConfigField {
  kind: ConfigKind;
  required: boolean;
}

export interface TaskSpec {
  taskId: string;
  type: TaskType;
  title: string;
  /** Triggers: the data a run starts with. Built-ins may provide more (get order data). */
  provides?: Resource[];
  /** Actions: the data they act on; the workflow must have it (from its trigger or a loop item). */
  requires?: Resource[];
  config: Record<string, ConfigField>;
  /** Grouping used by benchmark slices. */
  category: 'orders' | 'customers' | 'products' | 'inventory' | 'fulfillment' | 'payments' | 'marketing' | 'scheduling' | 'email' | 'third-party' | 'control';
}

const trigger = (taskId: string, title: string, provides: Resource[], category: TaskSpec['category']): TaskSpec => ({
  taskId,
  type: 'TRIGGER',
  title,
  provides: ['shop', ...provides],
  config: {},
  category,
});
const action = (taskId: string, title: string, requires: Resource[], config: Record<string, ConfigField>, category: TaskSpec['category']): TaskSpec => ({
  taskId,
  type: 'ACTION',
  title,
  requires,
  config,
  category,
});
const req = (kind: ConfigKind): ConfigField => ({ kind, required: true });
const opt = (kind: ConfigKind): ConfigField => ({ kind, required: false });

export const TRIGGERS: readonly TaskSpec[] = [
  trigger('shopify::admin::order_created', 'Order created', ['order', 'customer'], 'orders'),
  trigger('shopify::admin::order_paid', 'Order paid', ['order', 'customer'], 'payments'),
  trigger('shopify::admin::order_fulfilled', 'Order fulfilled', ['order', 'customer'], 'fulfillment'),
  trigger('shopify::admin::order_cancelled', 'Order cancelled', ['order', 'customer'], 'orders'),
  trigger('shopify::admin::order_risk_analyzed', 'Order risk analyzed', ['order', 'customer'], 'orders'),
  trigger('shopify::admin::order_transaction_created', 'Order transaction created', ['order'], 'payments'),
  trigger('shopify::admin::draft_order_created', 'Draft order created', ['draftOrder', 'customer'], 'orders'),
  trigger('shopify::admin::refund_created', 'Refund created', ['refund', 'order', 'customer'], 'payments'),
  trigger('shopify::admin::customer_created', 'Customer created', ['customer'], 'customers'),
  trigger('shopify::admin::customer_deleted', 'Customer deleted', ['customer'], 'customers'),
  trigger('shopify::admin::customer_tags_added', 'Customer tags added', ['customer'], 'customers'),
  trigger('shopify::admin::customer_tags_removed', 'Customer tags removed', ['customer'], 'customers'),
  trigger('shopify::admin::customer_joined_segment', 'Customer joined segment', ['customer', 'segment'], 'marketing'),
  trigger('shopify::admin::customer_left_segment', 'Customer left segment', ['customer', 'segment'], 'marketing'),
  trigger('shopify::admin::product_created', 'Product created', ['product'], 'products'),
  trigger('shopify::admin::product_status_updated', 'Product status updated', ['product'], 'products'),
  trigger('shopify::admin::product_added_to_store', 'Product added to store', ['product'], 'products'),
  trigger('shopify::admin::variant_out_of_stock', 'Product variant out of stock', ['product', 'variant'], 'inventory'),
  trigger('shopify::admin::variant_back_in_stock', 'Product variant back in stock', ['product', 'variant'], 'inventory'),
  trigger('shopify::admin::inventory_quantity_changed', 'Inventory quantity changed', ['product', 'variant', 'inventory'], 'inventory'),
  trigger('shopify::admin::collection_created', 'Collection created', ['collection'], 'products'),
  trigger('shopify::admin::discount_code_created', 'Discount code created', ['discount'], 'marketing'),
  trigger('shopify::admin::dispute_created', 'Dispute created', ['dispute', 'order', 'customer'], 'payments'),
  trigger('shopify::admin::return_requested', 'Return requested', ['return', 'order', 'customer'], 'fulfillment'),
  trigger('shopify::admin::fulfillment_created', 'Fulfillment created', ['fulfillment', 'order', 'customer'], 'fulfillment'),
  trigger('shopify::admin::fulfillment_event_created', 'Fulfillment event created', ['fulfillment', 'order'], 'fulfillment'),
  trigger('shopify::admin::subscription_billing_attempt_failed', 'Subscription billing attempt failed', ['subscription', 'customer'], 'payments'),
  trigger('shopify::admin::subscription_contract_created', 'Subscription contract created', ['subscription', 'customer'], 'payments'),
  trigger('shopify::flow::scheduled_time', 'Scheduled time', ['schedule'], 'scheduling'),
  trigger('shopify::admin::shop_settings_updated', 'Shop settings updated', [], 'control'),
  trigger('klaviyo::profile_subscribed', 'Klaviyo profile subscribed', ['customer'], 'third-party'),
  trigger('gorgias::ticket_created', 'Gorgias ticket created', ['customer'], 'third-party'),
];

const tags = { tags: req('stringList') };
export const ACTIONS: readonly TaskSpec[] = [
  action('shopify::admin::add_customer_tags', 'Add customer tags', ['customer'], tags, 'customers'),
  action('shopify::admin::remove_customer_tags', 'Remove customer tags', ['customer'], tags, 'customers'),
  action('shopify::admin::add_order_tags', 'Add order tags', ['order'], tags, 'orders'),
  action('shopify::admin::remove_order_tags', 'Remove order tags', ['order'], tags, 'orders'),
  action('shopify::admin::add_product_tags', 'Add product tags', ['product'], tags, 'products'),
  action('shopify::admin::add_draft_order_tags', 'Add draft order tags', ['draftOrder'], tags, 'orders'),
  action(
    'shopify::admin::cancel_order',
    'Cancel order',
    ['order'],
    { reason: req('nonEmptyString'), refund: opt('string'), notifyCustomer: opt('string') },
    'orders',
  ),
  action('shopify::admin::archive_order', 'Archive order', ['order'], {}, 'orders'),
  action('shopify::admin::capture_payment', 'Capture payment', ['order'], {}, 'payments'),
  action('shopify::admin::mark_order_as_paid', 'Mark order as paid', ['order'], {}, 'payments'),
  action('shopify::admin::send_order_invoice', 'Send order invoice', ['order'], { subject: opt('string'), customMessage: opt('string') }, 'email'),
  action('shopify::admin::hold_fulfillment_order', 'Hold fulfillment order', ['order'], { reason: req('nonEmptyString'), note: opt('string') }, 'fulfillment'),
  action('shopify::admin::add_product_to_collections', 'Add product to collections', ['product'], { collectionIds: req('stringList') }, 'products'),
  action('shopify::admin::publish_product', 'Publish product', ['product'], { channel: req('nonEmptyString') }, 'products'),
  action('shopify::admin::hide_product', 'Hide product', ['product'], { channel: req('nonEmptyString') }, 'products'),
  action('shopify::admin::update_order_note', 'Update order note', ['order'], { note: req('nonEmptyString') }, 'orders'),
  action('shopify::admin::update_customer_note', 'Update customer note', ['customer'], { note: req('nonEmptyString') }, 'customers'),
  action(
    'shopify::admin::update_order_metafield',
    'Update order metafield',
    ['order'],
    { namespace: req('nonEmptyString'), key: req('nonEmptyString'), value: req('string') },
    'orders',
  ),
  action(
    'shopify::flow::send_internal_email',
    'Send internal email',
    [],
    { to: req('email'), subject: req('nonEmptyString'), body: req('nonEmptyString') },
    'email',
  ),
  action(
    'shopify::flow::send_http_request',
    'Send HTTP request',
    [],
    { method: req('httpMethod'), url: req('url'), headers: opt('json'), body: opt('string') },
    'third-party',
  ),
  action('shopify::flow::send_admin_api_request', 'Send Admin API request', [], { mutation: req('nonEmptyString'), variables: req('json') }, 'third-party'),
  action('slack::send_message', 'Send Slack message', [], { channel: req('nonEmptyString'), message: req('nonEmptyString') }, 'third-party'),
  action('klaviyo::add_profile_to_list', 'Add profile to Klaviyo list', ['customer'], { listId: req('nonEmptyString') }, 'third-party'),
  action('shopify::flow::log_output', 'Log output', [], { message: req('nonEmptyString') }, 'control'),
];

/** Built-ins: data look-ups and control flow. */
export const BUILT_INS: readonly TaskSpec[] = [
  { taskId: 'shopify::flow::condition', type: 'CONDITION', title: 'Condition', config: {}, category: 'control' },
  {
    taskId: 'shopify::flow::for_each',
    type: 'FOREACH',
    title: 'For each',
    config: { items: req('fieldPath'), itemName: req('nonEmptyString') },
    category: 'control',
  },
  { taskId: 'shopify::flow::wait', type: 'WAIT', title: 'Wait', config: { duration: req('duration') }, category: 'control' },
  {
    taskId: 'shopify::flow::get_order_data',
    type: 'ACTION',
    title: 'Get order data',
    config: { query: req('string'), maxResults: opt('integer') },
    provides: ['order'],
    requires: [],
    category: 'control',
  },
  { taskId: 'shopify::flow::count', type: 'ACTION', title: 'Count', config: { items: req('fieldPath') }, requires: [], category: 'control' },
  {
    taskId: 'shopify::flow::sum',
    type: 'ACTION',
    title: 'Sum',
    config: { items: req('fieldPath'), field: req('nonEmptyString') },
    requires: [],
    category: 'control',
  },
  { taskId: 'shopify::flow::run_code', type: 'ACTION', title: 'Run code', config: { code: req('nonEmptyString') }, requires: [], category: 'control' },
];

export const TASKS: ReadonlyMap<string, TaskSpec> = new Map([...TRIGGERS, ...ACTIONS, ...BUILT_INS].map((t) => [t.taskId, t]));

/** Output ports each task type may link from. */
export const PORTS: Record<TaskType, readonly string[]> = {
  TRIGGER: ['output'],
  ACTION: ['output'],
  WAIT: ['output'],
  CONDITION: ['true', 'false'],
  FOREACH: ['loop_body', 'after'],
};
