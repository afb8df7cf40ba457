//! The user-directory contract, in-process and over internal HTTP.

use crate::helpers::TestApp;
use std::sync::Arc;
use tandem_shared::contracts::users::RemoteUserDirectory;
use tandem_shared::contracts::InternalClient;
use tandem_shared::hooks::UserDirectory;
use tandem_shared::ids::{Role, UserId};
use tandem_shared::service_auth::ServiceName;

async fn contract(app: &TestApp, dir: Arc<dyn UserDirectory>) {
    let res = app.signup("dora@example.com", "dora", "creator").await;
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let id: UserId = body["user"]["user_id"].as_str().unwrap().parse().unwrap();
    let u = dir.user(id).await.unwrap().expect("a signed-up user is known");
    assert_eq!((u.user_id, u.role, u.handle.as_str()), (id, Role::Creator, "dora"));
    assert!(dir.user(UserId::new()).await.unwrap().is_none(), "an unknown user is None");
}

#[tokio::test]
async fn the_directory_contract_holds_in_process() {
    let app = TestApp::spawn().await;
    contract(&app, app.t.core.hooks.users().expect("auth installs its directory")).await;
}

#[tokio::test]
async fn the_directory_contract_holds_over_internal_http() {
    let app = TestApp::spawn().await;
    let client =
        InternalClient::new(&app.url(""), app.t.core.service_key.clone(), ServiceName::Broker, ServiceName::Auth)
            .unwrap();
    contract(&app, Arc::new(RemoteUserDirectory::new(client))).await;
}

#[tokio::test]
async fn the_directory_refuses_callers_without_a_service_token() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url(&format!("/internal/v1/users/{}", UserId::new()))).send().await.unwrap();
    assert_eq!(res.status(), 401);
}
