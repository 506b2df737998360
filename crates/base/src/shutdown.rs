//! Cooperative shutdown: one [`Sender`] flips a flag that every [`Receiver`] can poll or
//! await. Dropping the sender also signals shutdown, so a panicking owner cannot leave
//! workers running forever.

use tokio::sync::watch;

pub struct Sender(watch::Sender<bool>);

#[derive(Clone)]
pub struct Receiver(watch::Receiver<bool>);

pub fn channel() -> (Sender, Receiver) {
    let (tx, rx) = watch::channel(false);
    (Sender(tx), Receiver(rx))
}

impl Sender {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl Receiver {
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once shutdown has been requested or the sender dropped.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}
