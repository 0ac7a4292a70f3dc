//! Publishing task events to containerd (its ttrpc Events service), in order, from one thread.
//!
//! Events are encoded with their generated code and a fixed type URL instead of protobuf
//! reflection: building the descriptors for a type URL costs every shim hundreds of KiB.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::SystemTime;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::events::{Envelope, ForwardRequest};
use containerd_shim::protos::shim_sync::{Client, EventsClient};
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::context::Context;

use crate::process::timestamp;

/// One encoded event: (topic, type URL, protobuf bytes).
type Event = (&'static str, &'static str, Vec<u8>);

#[derive(Clone)]
pub struct Events(Sender<Event>);

/// containerd's name for the event type published on `topic`.
fn type_url(topic: &str) -> &'static str {
    match topic {
        topics::TASK_CREATE_EVENT_TOPIC => "containerd.events.TaskCreate",
        topics::TASK_START_EVENT_TOPIC => "containerd.events.TaskStart",
        topics::TASK_EXIT_EVENT_TOPIC => "containerd.events.TaskExit",
        topics::TASK_DELETE_EVENT_TOPIC => "containerd.events.TaskDelete",
        topics::TASK_EXEC_ADDED_EVENT_TOPIC => "containerd.events.TaskExecAdded",
        topics::TASK_EXEC_STARTED_EVENT_TOPIC => "containerd.events.TaskExecStarted",
        topics::TASK_PAUSED_EVENT_TOPIC => "containerd.events.TaskPaused",
        topics::TASK_RESUMED_EVENT_TOPIC => "containerd.events.TaskResumed",
        topics::TASK_OOM_EVENT_TOPIC => "containerd.events.TaskOOM",
        topics::TASK_CHECKPOINTED_EVENT_TOPIC => "containerd.events.TaskCheckpointed",
        _ => "",
    }
}

impl Events {
    /// Starts the publisher thread for namespace `ns`, connecting to containerd's ttrpc
    /// address (`TTRPC_ADDRESS`) on first use.
    pub fn start(ns: &str) -> Events {
        let (tx, rx) = mpsc::channel::<Event>();
        let ns = ns.to_string();
        let _ = std::thread::Builder::new()
            .name("events".into())
            .stack_size(256 * 1024)
            .spawn(move || forward(&ns, rx));
        Events(tx)
    }

    pub fn publish(&self, topic: &'static str, ev: &impl Message) {
        match ev.write_to_bytes() {
            Ok(v) => {
                let _ = self.0.send((topic, type_url(topic), v));
            }
            Err(e) => log::warn!("encoding {topic}: {e}"),
        }
    }
}

fn connect() -> Option<EventsClient> {
    let addr = std::env::var("TTRPC_ADDRESS").ok()?;
    match containerd_shim::util::connect(&addr).map(Client::new) {
        Ok(Ok(c)) => Some(EventsClient::new(c)),
        Ok(Err(e)) => {
            log::warn!("connecting to {addr}: {e}");
            None
        }
        Err(e) => {
            log::warn!("connecting to {addr}: {e}");
            None
        }
    }
}

fn forward(ns: &str, rx: Receiver<Event>) {
    let mut client = None;
    for (topic, type_url, value) in rx {
        if client.is_none() {
            client = connect();
        }
        let Some(c) = client.as_ref() else { continue };
        let req = ForwardRequest {
            envelope: Some(Envelope {
                timestamp: Some(timestamp(SystemTime::now())).into(),
                namespace: ns.to_string(),
                topic: topic.to_string(),
                event: Some(Any {
                    type_url: type_url.into(),
                    value,
                    ..Default::default()
                })
                .into(),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        };
        if let Err(e) = c.forward(Context::default(), &req) {
            log::warn!("publishing {topic}: {e}");
            client = None;
        }
    }
}
