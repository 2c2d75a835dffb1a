//! Structured `tracing` events captured by a test [`Layer`], their fields
//! kept as strings.
//!
//! ```
//! use fledge_test::logs;
//!
//! let ((), capture) = logs::captured(|| tracing::info!(name: "demo.event", n = 3, "hi"));
//! let line = capture.one("demo.event");
//! assert_eq!(line.field("n"), "3");
//! assert_eq!(line.level, tracing::Level::INFO);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One captured event (or, with [`Capture::with_spans`], a new span).
#[derive(Debug, Clone)]
pub struct Line {
    /// The event's (span's) name.
    pub name: String,
    /// Its target.
    pub target: String,
    /// Its level.
    pub level: Level,
    /// Its fields, `Debug`-formatted (strings as they are).
    pub fields: BTreeMap<String, String>,
}

impl Line {
    /// The field `field`, if it has it.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// The field `field`; panics naming the line when it has none.
    pub fn field(&self, field: &str) -> &str {
        self.get(field)
            .unwrap_or_else(|| panic!("{} has no field {field}: {:?}", self.name, self.fields))
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A [`Layer`] keeping every event (and new spans, if asked) as a
/// [`Line`]; clones share the lines.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    lines: Arc<Mutex<Vec<Line>>>,
    spans: bool,
}

impl Capture {
    /// A capture of the events only.
    pub fn new() -> Capture {
        Capture::default()
    }

    /// A capture of the events and of every new span.
    pub fn with_spans() -> Capture {
        Capture {
            spans: true,
            ..Capture::default()
        }
    }

    fn push(&self, meta: &tracing::Metadata<'_>, fields: Fields) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Line {
                name: meta.name().to_owned(),
                target: meta.target().to_owned(),
                level: *meta.level(),
                fields: fields.0,
            });
    }

    /// Every line so far, in order.
    pub fn lines(&self) -> Vec<Line> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lines named `name`.
    pub fn named(&self, name: &str) -> Vec<Line> {
        self.lines()
            .into_iter()
            .filter(|l| l.name == name)
            .collect()
    }

    /// The one line named `name`; panics (listing them) unless there is
    /// exactly one.
    pub fn one(&self, name: &str) -> Line {
        let mut lines = self.named(name);
        assert_eq!(lines.len(), 1, "{name}: {lines:#?}");
        lines.remove(0)
    }

    /// The events whose `message` field is `message`, taken out (the
    /// next calls see only what came after).
    pub fn take(&self, message: &str) -> Vec<Line> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let (taken, kept) = lines
            .drain(..)
            .partition(|l| l.get("message") == Some(message));
        *lines = kept;
        taken
    }

    /// A subscriber of this capture alone, for
    /// `tracing::subscriber::set_default` (or `set_global_default`).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        Registry::default().with(self.clone())
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.push(event.metadata(), fields);
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        if self.spans {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            self.push(attrs.metadata(), fields);
        }
    }
}

/// Runs `f` with a capturing subscriber (events only) as this thread's
/// default; what `f` returned and what it logged.
pub fn captured<T>(f: impl FnOnce() -> T) -> (T, Capture) {
    let capture = Capture::new();
    let subscriber = Registry::default().with(capture.clone());
    let value = tracing::subscriber::with_default(subscriber, f);
    (value, capture)
}
