//! The exchange's database (redb: a commit that returned survives a crash). Every accepted
//! tender, every fill, every closed slot, registration, delivery and grid event is written
//! here before anyone is told about it.

use crate::model::{
    DeliveryRecord, FillRecord, GridEvent, ParticipantRecord, SlotRecord, TenderRecord, Timeline,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const PARTICIPANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("participants");
const TENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("tenders");
const FILLS: TableDefinition<u64, &[u8]> = TableDefinition::new("fills");
const SLOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("slots");
const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// The database file in the data folder.
pub const FILE_NAME: &str = "exchange.redb";

/// A database problem, with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("exchange database {path}: {message}")]
pub struct StoreError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// One record to write.
#[derive(Clone, Debug)]
pub enum Put {
    /// The timeline and the scenario's fingerprint.
    Meta(&'static str, Vec<u8>),
    /// A registration.
    Participant(ParticipantRecord),
    /// A tender (new or changed).
    Tender(TenderRecord),
    /// A fill.
    Fill(FillRecord),
    /// A closed slot.
    Slot(SlotRecord),
    /// A meter reading.
    Delivery(DeliveryRecord),
    /// A grid event.
    Event(GridEvent),
}

/// Everything stored, read back at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The timeline, if the folder was used before.
    pub timeline: Option<Timeline>,
    /// Fingerprint of the scenario the folder was created with.
    pub scenario: Option<String>,
    /// Registrations.
    pub participants: Vec<ParticipantRecord>,
    /// Tenders by id.
    pub tenders: Vec<TenderRecord>,
    /// Fills by id.
    pub fills: Vec<FillRecord>,
    /// Closed slots in order.
    pub slots: Vec<SlotRecord>,
    /// Meter readings.
    pub deliveries: Vec<DeliveryRecord>,
    /// Grid events in order.
    pub events: Vec<GridEvent>,
}

/// The open database.
pub struct Store {
    database: Database,
    path: PathBuf,
}

fn fail(path: &Path, error: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| fail(dir, error))?;
        let path = dir.join(FILE_NAME);
        let database = Database::create(&path).map_err(|error| fail(&path, error))?;
        let store = Store { database, path };
        // Create every table so that reading an empty database works.
        store.write(&[])?;
        Ok(store)
    }

    /// Writes `puts` in one transaction and returns once it is durable.
    pub fn write(&self, puts: &[Put]) -> Result<(), StoreError> {
        let path = &self.path;
        let write = self.database.begin_write().map_err(|e| fail(path, e))?;
        {
            let mut meta = write.open_table(META).map_err(|e| fail(path, e))?;
            let mut participants = write.open_table(PARTICIPANTS).map_err(|e| fail(path, e))?;
            let mut tenders = write.open_table(TENDERS).map_err(|e| fail(path, e))?;
            let mut fills = write.open_table(FILLS).map_err(|e| fail(path, e))?;
            let mut slots = write.open_table(SLOTS).map_err(|e| fail(path, e))?;
            let mut deliveries = write.open_table(DELIVERIES).map_err(|e| fail(path, e))?;
            let mut events = write.open_table(EVENTS).map_err(|e| fail(path, e))?;
            for put in puts {
                let result = match put {
                    Put::Meta(key, value) => meta.insert(*key, value.as_slice()).map(drop),
                    Put::Participant(record) => participants
                        .insert(record.public_key.as_str(), json(record).as_slice())
                        .map(drop),
                    Put::Tender(record) => {
                        tenders.insert(record.id, json(record).as_slice()).map(drop)
                    }
                    Put::Fill(record) => fills.insert(record.id, json(record).as_slice()).map(drop),
                    Put::Slot(record) => {
                        slots.insert(record.slot, json(record).as_slice()).map(drop)
                    }
                    Put::Delivery(record) => deliveries
                        .insert(record.key(), json(record).as_slice())
                        .map(drop),
                    Put::Event(record) => {
                        events.insert(record.id, json(record).as_slice()).map(drop)
                    }
                };
                result.map_err(|e| fail(path, e))?;
            }
        }
        write.commit().map_err(|e| fail(path, e))
    }

    /// Reads everything back.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let path = &self.path;
        let read = self.database.begin_read().map_err(|e| fail(path, e))?;
        let mut loaded = Loaded::default();
        let meta = read.open_table(META).map_err(|e| fail(path, e))?;
        if let Some(value) = meta.get("timeline").map_err(|e| fail(path, e))? {
            loaded.timeline =
                Some(serde_json::from_slice(value.value()).map_err(|e| fail(path, e))?);
        }
        if let Some(value) = meta.get("scenario").map_err(|e| fail(path, e))? {
            loaded.scenario = Some(String::from_utf8_lossy(value.value()).into_owned());
        }
        fn all<K: redb::Key + 'static, T: serde::de::DeserializeOwned>(
            read: &redb::ReadTransaction,
            table: TableDefinition<K, &[u8]>,
            path: &Path,
        ) -> Result<Vec<T>, StoreError> {
            let table = read.open_table(table).map_err(|e| fail(path, e))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| fail(path, e))? {
                let (_, value) = entry.map_err(|e| fail(path, e))?;
                out.push(serde_json::from_slice(value.value()).map_err(|e| fail(path, e))?);
            }
            Ok(out)
        }
        loaded.participants = all(&read, PARTICIPANTS, path)?;
        loaded.tenders = all(&read, TENDERS, path)?;
        loaded.fills = all(&read, FILLS, path)?;
        loaded.slots = all(&read, SLOTS, path)?;
        loaded.deliveries = all(&read, DELIVERIES, path)?;
        loaded.events = all(&read, EVENTS, path)?;
        Ok(loaded)
    }
}
