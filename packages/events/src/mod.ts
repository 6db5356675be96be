// @fle/events: sealed NATS events (docs/events.md).
export { encodeEvent, eventType, type EventType, type MessageCodec } from './event-type.js';
export { assertPublishSubject, EVENT_HEADERS, eventContext, isValidMsgId, newMsgId } from './binding.js';
export {
  EventPublisher,
  type EventPublisherOptions,
  type PublishedEvent,
  type PublishOptions,
  type StoredEvent,
  type StreamPublishOptions,
} from './publisher.js';
export { openEvent, isSealedPayload, type OpenedEvent } from './open-event.js';
export { claimEventId, DEFAULT_DEDUPE_WINDOW_MS, EVENT_ID_BUCKET, eventIdKey, openEventIdStore, type EventClaim, type EventIdStoreOptions } from './seen-ids.js';
export { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_ROUTE, DEFAULT_MAX_DEAD_LETTER_PAYLOAD, EventDeadLetters, type DeadLetter, type DeadLetterOptions } from './dead-letter.js';
export type { EventHandler, EventHandlerContext, EventLogger, ReceiveOptions, SubscriptionStats } from './receiver.js';
export { subscribeEvents, type EventSubscription, type SubscribeOptions } from './subscriber.js';
export { consumeEvents, nakDelay, type ConsumeOptions } from './consumer.js';
