//! Which alert mail each person wants, for every tenant they are in: budget
//! alerts, rotation reminders, unusual use, incident reports. A person who never
//! chose gets all of it. The alerts stay on the console's Alerts page either way.

use airlock_schema::entities::notification_setting;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::ConsoleError;

/// A kind of mail a person may turn off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Budget,
    Rotation,
    Anomaly,
    Incident,
}

impl Kind {
    /// The kind of an alert (`budget`, `rotation`, `anomaly`).
    pub fn of_alert(kind: &str) -> Option<Kind> {
        match kind {
            "budget" => Some(Kind::Budget),
            "rotation" => Some(Kind::Rotation),
            "anomaly" => Some(Kind::Anomaly),
            _ => None,
        }
    }
}

/// What a person wants mailed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub budget: bool,
    pub rotation: bool,
    pub anomaly: bool,
    pub incident: bool,
}

impl Default for Wanted {
    fn default() -> Wanted {
        Wanted {
            budget: true,
            rotation: true,
            anomaly: true,
            incident: true,
        }
    }
}

impl Wanted {
    pub fn wants(&self, kind: Kind) -> bool {
        match kind {
            Kind::Budget => self.budget,
            Kind::Rotation => self.rotation,
            Kind::Anomaly => self.anomaly,
            Kind::Incident => self.incident,
        }
    }
}

pub async fn wanted(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Wanted, ConsoleError> {
    Ok(notification_setting::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map_or_else(Wanted::default, |row| Wanted {
            budget: row.budget,
            rotation: row.rotation,
            anomaly: row.anomaly,
            incident: row.incident,
        }))
}

pub async fn save(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    wanted: Wanted,
) -> Result<(), ConsoleError> {
    notification_setting::Entity::insert(notification_setting::ActiveModel {
        user_id: Set(user_id),
        budget: Set(wanted.budget),
        rotation: Set(wanted.rotation),
        anomaly: Set(wanted.anomaly),
        incident: Set(wanted.incident),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(notification_setting::Column::UserId)
            .update_columns([
                notification_setting::Column::Budget,
                notification_setting::Column::Rotation,
                notification_setting::Column::Anomaly,
                notification_setting::Column::Incident,
                notification_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Of `users`, those who want mail of `kind`.
pub async fn who_wants(
    db: &impl ConnectionTrait,
    users: Vec<Uuid>,
    kind: Kind,
) -> Result<Vec<Uuid>, ConsoleError> {
    let column = match kind {
        Kind::Budget => notification_setting::Column::Budget,
        Kind::Rotation => notification_setting::Column::Rotation,
        Kind::Anomaly => notification_setting::Column::Anomaly,
        Kind::Incident => notification_setting::Column::Incident,
    };
    let declined: Vec<Uuid> = notification_setting::Entity::find()
        .filter(notification_setting::Column::UserId.is_in(users.clone()))
        .filter(column.eq(false))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.user_id)
        .collect();
    Ok(users
        .into_iter()
        .filter(|u| !declined.contains(u))
        .collect())
}
