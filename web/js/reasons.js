// Why a room ended, in words (broker and billing end reasons).
const TEXT = {
  host_ended: 'The creator ended it.',
  guest_ended: 'The fan hung up.',
  operator_ended: 'An operator ended it.',
  heartbeat_lost: 'The connection to the other side was lost.',
  stream_idle: 'The video stopped for too long.',
  went_private: 'The creator went into a private session.',
  payment_refused: 'The payment was refused.',
  funds_exhausted: 'The balance ran out.',
};

export function endText(reason) {
  return TEXT[reason] || (reason ? `Ended (${reason}).` : 'Ended.');
}
