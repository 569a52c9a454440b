import { BookingEventSchema, BookingSchema, ReservationSchema } from './booking.entity.js';
import { SpaceSchema, WorkspaceSchema } from './catalog.entity.js';
import { OutboxSchema, ProcessedCommandSchema } from './messaging.entity.js';
import { UserSchema } from './user.entity.js';

export * from './booking.entity.js';
export * from './catalog.entity.js';
export * from './messaging.entity.js';
export * from './user.entity.js';

export const entities = [
  WorkspaceSchema,
  SpaceSchema,
  UserSchema,
  BookingSchema,
  ReservationSchema,
  BookingEventSchema,
  ProcessedCommandSchema,
  OutboxSchema,
];
