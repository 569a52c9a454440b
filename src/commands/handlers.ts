import type { CommandName } from '../jobs/catalogue.js';
import { bookingCommandHandlers, type CommandHandler } from './booking.commands.js';
import { cartCommandHandlers } from './cart.commands.js';
import { reviewCommandHandlers } from './review.commands.js';

/** Every command's handler, by job name. The mapped type makes a command without a handler a compile error. */
export const commandHandlers: { [N in CommandName]: CommandHandler<N> } = {
  ...bookingCommandHandlers,
  ...cartCommandHandlers,
  ...reviewCommandHandlers,
};
