//! The models a server answers with. Versions are immutable, so a loaded version is kept for
//! the life of the server; aliases are kept in memory (an atomically swapped map) and read again
//! from the store every second, so that a move made elsewhere (`retain registry promote`)
//! reaches a running server without a restart. A request resolves its alias once, at its start,
//! and answers with that version whatever moves meanwhile: a move never fails a request.
//!
//! What is kept is bounded whatever clients ask: a version that fails to load leaves nothing
//! behind, and of the versions no alias points at, only the most recently used few stay loaded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use axum::http::StatusCode;
use retain_scoring::batch::Selector;
use retain_scoring::Scorer;
use retain_store::{AliasMove, Store};

use crate::error::ApiError;

type AliasMap = HashMap<(String, String), i64>;

/// A version's scorer, loaded once however many requests ask for it at the same time, and
/// when it was last asked for.
#[derive(Default)]
struct Slot {
    scorer: tokio::sync::OnceCell<Arc<Scorer>>,
    last_used: AtomicU64,
}

pub struct Models {
    store: Store,
    aliases: ArcSwap<AliasMap>,
    scorers: RwLock<HashMap<(String, i64), Arc<Slot>>>,
    /// Versions no alias points at that stay loaded, at most.
    unaliased_kept: usize,
    /// Counts requests for scorers: the order of use.
    clock: AtomicU64,
}

impl Models {
    pub async fn new(store: Store, unaliased_kept: usize) -> Result<Models, ApiError> {
        let models = Models {
            store,
            aliases: ArcSwap::from_pointee(HashMap::new()),
            scorers: RwLock::new(HashMap::new()),
            unaliased_kept,
            clock: AtomicU64::new(0),
        };
        models.refresh_aliases().await?;
        // Every aliased version is loaded before the first request, which then waits for
        // nothing.
        let aliased: Vec<(String, i64)> = models
            .aliases
            .load()
            .iter()
            .map(|((name, _), &version)| (name.clone(), version))
            .collect();
        for (name, version) in aliased {
            // A version that cannot serve is reported when asked for, not at start.
            let _ = models.scorer(&name, version).await;
        }
        Ok(models)
    }

    /// Reads every alias from the store.
    pub async fn refresh_aliases(&self) -> Result<(), ApiError> {
        let mut map = AliasMap::new();
        for model in self.store.models().await? {
            for alias in model.aliases {
                map.insert((model.name.clone(), alias.alias), alias.version);
            }
        }
        self.aliases.store(Arc::new(map));
        Ok(())
    }

    /// The version `selector` picks of model `name` now, and its scorer.
    pub async fn resolve(
        &self,
        name: &str,
        selector: &Selector,
    ) -> Result<(i64, Arc<Scorer>), ApiError> {
        let version = match selector {
            Selector::Version(v) => *v,
            Selector::Alias(alias) => {
                let known = self
                    .aliases
                    .load()
                    .get(&(name.to_string(), alias.clone()))
                    .copied();
                match known {
                    Some(v) => v,
                    // Moved in the last second by someone else, or never set: ask the store.
                    None => self.store.resolve(name, alias).await?,
                }
            }
        };
        Ok((version, self.scorer(name, version).await?))
    }

    /// A version's scorer, loaded from the store on first use (once, however many requests
    /// ask at the same time).
    pub async fn scorer(&self, name: &str, version: i64) -> Result<Arc<Scorer>, ApiError> {
        let key = (name.to_string(), version);
        let slot: Arc<Slot> = {
            let known = self
                .scorers
                .read()
                .expect("not poisoned")
                .get(&key)
                .cloned();
            match known {
                Some(slot) => slot,
                None => self
                    .scorers
                    .write()
                    .expect("not poisoned")
                    .entry(key.clone())
                    .or_default()
                    .clone(),
            }
        };
        slot.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        // Loaded before: the common case takes no write lock and does no bookkeeping.
        if let Some(scorer) = slot.scorer.get() {
            return Ok(scorer.clone());
        }
        let loaded = slot
            .scorer
            .get_or_try_init(|| async {
                let bytes = self.store.artifact(name, version).await?;
                let scorer = tokio::task::spawn_blocking(move || Scorer::from_bytes(&bytes))
                    .await
                    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                    .map_err(|e| ApiError::from(e).answered_by(name, version))?;
                Ok(Arc::new(scorer))
            })
            .await
            .cloned();
        let mut scorers = self.scorers.write().expect("not poisoned");
        match &loaded {
            // Nothing stays behind for a version that does not load (or does not exist).
            Err(_) => {
                if scorers
                    .get(&key)
                    .is_some_and(|s| Arc::ptr_eq(s, &slot) && s.scorer.get().is_none())
                {
                    scorers.remove(&key);
                }
            }
            Ok(_) => self.unload_least_used(&mut scorers),
        }
        loaded
    }

    /// Unloads the least recently used versions no alias points at, down to the number kept.
    fn unload_least_used(&self, scorers: &mut HashMap<(String, i64), Arc<Slot>>) {
        let aliased: std::collections::HashSet<(String, i64)> = self
            .aliases
            .load()
            .iter()
            .map(|((name, _), &version)| (name.clone(), version))
            .collect();
        let mut unaliased: Vec<(u64, (String, i64))> = scorers
            .iter()
            .filter(|(key, slot)| !aliased.contains(*key) && slot.scorer.get().is_some())
            .map(|(key, slot)| (slot.last_used.load(Ordering::Relaxed), key.clone()))
            .collect();
        if unaliased.len() <= self.unaliased_kept {
            return;
        }
        unaliased.sort();
        let excess = unaliased.len() - self.unaliased_kept;
        for (_, key) in unaliased.into_iter().take(excess) {
            scorers.remove(&key);
        }
    }

    /// Versions loaded now.
    pub fn loaded(&self) -> usize {
        self.scorers.read().expect("not poisoned").len()
    }

    /// Points `alias` at `version`: the version is loaded first (so the first request after
    /// the move does not wait for it, and an artifact that does not load is refused), then the
    /// store's alias moves, then this server's.
    pub async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<AliasMove, ApiError> {
        match self.scorer(name, version).await {
            // A version that does not answer predictions (a segmentation, say) is still a
            // version whose alias may move.
            Err(e) if e.status == StatusCode::CONFLICT => {}
            other => {
                other?;
            }
        }
        let moved = self.store.move_alias(name, alias, version).await?;
        self.aliases.rcu(|map| {
            let mut map = AliasMap::clone(map);
            map.insert((name.to_string(), alias.to_string()), version);
            map
        });
        Ok(moved)
    }
}
