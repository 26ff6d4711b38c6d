use std::{fmt, sync::Arc};

/// Something a layer keeps alive until the connection a request belongs to is done —
/// typically a guard whose `Drop` counts a request out.
pub trait HeldUntilClosed: Send + Sync + 'static {}

impl<T: Send + Sync + 'static> HeldUntilClosed for T {}

/// A request extension collecting what must live as long as the exchange does.
///
/// An ordinary request ends when its response body ends, and layers track that by
/// wrapping the body. An upgraded connection (a websocket) outlives both bodies: the
/// response is a bodiless 101 and the bytes flow afterwards. So layers that count
/// requests in flight also push a guard here, and [`Forward`](super::Forward) moves the
/// collected guards into the tunnel it spawns, dropping them when the tunnel closes.
#[derive(Clone, Default)]
pub struct ConnectionHold(Vec<Arc<dyn HeldUntilClosed>>);

impl ConnectionHold {
    /// Keeps `guard` alive until the exchange ends.
    pub fn push(&mut self, guard: Arc<dyn HeldUntilClosed>) {
        self.0.push(guard);
    }

    /// Adds `guard` to the hold in `extensions`, creating the hold if needed.
    pub fn attach(extensions: &mut http::Extensions, guard: Arc<dyn HeldUntilClosed>) {
        match extensions.get_mut::<Self>() {
            Some(hold) => hold.push(guard),
            None => {
                extensions.insert(Self(vec![guard]));
            }
        }
    }

    /// How many guards are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ConnectionHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionHold")
            .field("guards", &self.0.len())
            .finish()
    }
}
