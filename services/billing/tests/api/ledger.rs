use crate::helpers::TestApp;
use tandem_shared::ids::Role;

#[tokio::test]
async fn the_database_refuses_unbalanced_transactions_and_ledger_check_finds_drift() {
    let app = TestApp::spawn().await;
    let (fan, token) = app.user(Role::Fan).await;
    app.dev_top_up(&token, 500).await;
    app.assert_ledger_ok().await;

    // An unbalanced transaction written behind billing's back fails at commit (deferred trigger).
    let account: uuid::Uuid = sqlx::query_scalar("select account_id from ledger_accounts where user_id = $1")
        .bind(fan)
        .fetch_one(app.db())
        .await
        .unwrap();
    let mut tx = app.db().begin().await.unwrap();
    let t = uuid::Uuid::new_v4();
    sqlx::query("insert into ledger_transactions (transaction_id, idempotency_key, kind, currency) values ($1, 'forged', 'tip', 'usd')")
        .bind(t)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("insert into ledger_entries (transaction_id, account_id, amount) values ($1, $2, 1000)")
        .bind(t)
        .bind(account)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = tx.commit().await.expect_err("unbalanced commit refused");
    assert_eq!(tandem_shared::error::violated_constraint(&err), Some("ledger_entries_balanced"));

    // Entries are append-only.
    let res = sqlx::query("update ledger_entries set amount = amount + 1").execute(app.db()).await;
    assert!(res.is_err());

    // A cached balance that drifts from its entries is reported.
    sqlx::query("update ledger_accounts set balance = balance + 1 where account_id = $1")
        .bind(account)
        .execute(app.db())
        .await
        .unwrap();
    let report = tandem_billing::ledger_check(app.db()).await.unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.balance_mismatches.len(), 1);
    assert_eq!(report.balance_mismatches[0].account_id, account);
}
