// Who is publishing right now. Local deliveries happen synchronously inside a publish, so a link that shows
// senders (the plain endpoint's JSON envelopes) can read the publisher here without the router carrying it.
// '' while the server itself, a service or a remote node publishes.
// `owner`: who the publisher's use of shared budgets is charged to — its address unit while anonymous, its device
// id once logged in (router/cap-shares.ts) — so the cluster bus's fair share holds per client, however many
// connections it opens; '' for the server and the admin level.
export const currentPublisher = { cid: '', owner: '' };
