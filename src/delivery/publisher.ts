// Who is publishing right now. Local deliveries happen synchronously inside a publish, so a link that shows
// senders (the plain endpoint's JSON envelopes) can read the publisher here without the router carrying it.
// '' while the server itself, a service or a remote node publishes.
export const currentPublisher = { cid: '' };
