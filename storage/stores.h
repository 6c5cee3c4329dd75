// Stores: every store of one database, bound to its connection and sealer.
//
// A storage-thread job receives a Stores& and may use any number of stores;
// everything it does commits or rolls back together.
//
// Thread safety: none; belongs to the thread that owns the Database.
#pragma once

#include "storage/audit_log.h"
#include "storage/case_store.h"
#include "storage/counter_store.h"
#include "storage/database.h"
#include "storage/envelope_store.h"
#include "storage/prekey_store.h"
#include "storage/record_store.h"
#include "storage/roster_store.h"
#include "storage/sealer.h"
#include "storage/vault_store.h"

namespace hearth::storage {

struct Stores {
  // Both must outlive the Stores.
  Stores(Database& database, const Sealer& sealer)
      : db(database),
        roster(database),
        prekeys(database),
        cases(database, sealer),
        envelopes(database, sealer),
        vaults(database, sealer),
        records(database),
        counters(database, sealer),
        audit(database, sealer) {}

  Database& db;
  RosterStore roster;
  PrekeyStore prekeys;
  CaseStore cases;
  EnvelopeStore envelopes;
  VaultStore vaults;
  RecordStore records;
  CounterStore counters;
  AuditLog audit;
};

}  // namespace hearth::storage
