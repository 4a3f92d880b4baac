//! Mailbox depth: actix does not expose how many messages wait in an actor's mailbox, so the
//! addresses of the busiest actor kinds count them. [`CountedAddr::send`] counts a message from
//! the moment it is sent until its answer arrives (or the send is dropped): the messages queued
//! plus the one being handled. `/metrics` shows the count per kind as
//! `troupe_actor_mailbox_depth{actor}`. `do_send` (fire and forget) passes through uncounted.

use std::ops::Deref;
use std::sync::atomic::{AtomicI64, Ordering};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};

/// Messages sent to partition replicas and not yet answered, in this process.
pub static PARTITION_MAILBOX: AtomicI64 = AtomicI64::new(0);

/// Every counted actor kind and its counter, for `/metrics`.
pub fn depths() -> [(&'static str, i64); 1] {
    [(
        "partition",
        PARTITION_MAILBOX.load(Ordering::Relaxed).max(0),
    )]
}

/// An actor's address whose `send` is counted in `depth`.
pub struct CountedAddr<A: Actor> {
    addr: Addr<A>,
    depth: &'static AtomicI64,
}

impl<A: Actor> Clone for CountedAddr<A> {
    fn clone(&self) -> Self {
        CountedAddr {
            addr: self.addr.clone(),
            depth: self.depth,
        }
    }
}

impl<A: Actor> std::fmt::Debug for CountedAddr<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountedAddr").finish_non_exhaustive()
    }
}

impl<A: Actor> Deref for CountedAddr<A> {
    type Target = Addr<A>;
    fn deref(&self) -> &Addr<A> {
        &self.addr
    }
}

/// Decrements the count when the send completes or is abandoned.
struct InFlight(&'static AtomicI64);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<A: Actor> CountedAddr<A> {
    pub fn new(addr: Addr<A>, depth: &'static AtomicI64) -> Self {
        CountedAddr { addr, depth }
    }

    /// `Addr::send`, counted until the answer arrives.
    pub fn send<M>(
        &self,
        msg: M,
    ) -> impl std::future::Future<Output = Result<M::Result, MailboxError>> + use<A, M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.depth.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(self.depth);
        let request = self.addr.send(msg);
        async move {
            let answer = request.await;
            drop(in_flight);
            answer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::prelude::*;

    static DEPTH: AtomicI64 = AtomicI64::new(0);

    struct Slow;
    impl Actor for Slow {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Nap;
    impl Handler<Nap> for Slow {
        type Result = ResponseFuture<()>;
        fn handle(&mut self, _: Nap, _: &mut Context<Self>) -> Self::Result {
            Box::pin(tokio::time::sleep(std::time::Duration::from_millis(50)))
        }
    }

    #[actix::test]
    async fn counts_messages_until_answered() {
        let addr = CountedAddr::new(Slow.start(), &DEPTH);
        let sends: Vec<_> = (0..3).map(|_| addr.send(Nap)).collect();
        assert_eq!(DEPTH.load(Ordering::Relaxed), 3);
        futures::future::join_all(sends).await;
        assert_eq!(DEPTH.load(Ordering::Relaxed), 0);
        drop(addr.send(Nap)); // abandoned before it was polled
        assert_eq!(DEPTH.load(Ordering::Relaxed), 0);
    }
}
