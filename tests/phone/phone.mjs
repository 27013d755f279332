// A test phone that runs Element's crypto stack: matrix-js-sdk with the Rust crypto library (wasm).
//
// Driven by the test suite over stdin/stdout, one JSON object a line:
//   request  {"id": 1, "op": "start", ...}      -> {"id": 1, "ok": true, "result": ...} or {"id": 1, "ok": false, "error": "..."}
//   and, unasked, one line per timeline event:  {"event": {...}}  (decrypted where the phone could)
// Operations: start, join, send, react, device_status, stop.

import "fake-indexeddb/auto";

// Debian's Node is 20; the SDK calls Promise.withResolvers (Node 22).
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

import * as readline from "node:readline";
import * as sdk from "matrix-js-sdk";
import { AllDevicesIsolationMode, OnlySignedDevicesIsolationMode } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel(process.env.PHONE_LOG || "error");

let client = null;
let password = null;

function emit(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

function describe(event) {
  const actions = client.getPushActionsForEvent(event, true);
  return {
    room_id: event.getRoomId(),
    event_id: event.getId(),
    sender: event.getSender(),
    type: event.getType(),
    encrypted: event.isEncrypted(),
    content: event.getContent(),
    decryption_failure: event.isDecryptionFailure() ? String(event.decryptionFailureReason) : null,
    notify: Boolean(actions?.notify),
    highlight: Boolean(actions?.tweaks?.highlight),
    sound: actions?.tweaks?.sound ?? null,
  };
}

async function settled(event) {
  // Encrypted events are decrypted asynchronously; wait until the attempt is over.
  if (event.isEncrypted() && event.isBeingDecrypted()) {
    await new Promise((resolve) => event.once(sdk.MatrixEventEvent.Decrypted, resolve));
  }
  if (event.isEncrypted() && !event.isDecryptionFailure() && event.getClearContent() === null) {
    await new Promise((resolve) => event.once(sdk.MatrixEventEvent.Decrypted, resolve));
  }
  return event;
}

const ops = {
  async start({ base_url, user_id, password: secret, cross_sign = true, isolation = "signed", device_name = "Element" }) {
    password = secret;
    const bare = sdk.createClient({ baseUrl: base_url });
    const login = await bare.loginRequest({
      type: "m.login.password", identifier: { type: "m.id.user", user: user_id }, password,
      initial_device_display_name: device_name,
    });
    client = sdk.createClient({
      baseUrl: base_url, userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    if (cross_sign) {
      await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
          try {
            await makeRequest(null);
          } catch (error) {
            const session = error?.data?.session;
            await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: user_id },
                                password, session });
          }
        },
      });
    }
    crypto.setDeviceIsolationMode(isolation === "all" ? new AllDevicesIsolationMode(false)
                                                      : new OnlySignedDevicesIsolationMode());
    client.on(sdk.RoomEvent.Timeline, (event, room, toStartOfTimeline) => {
      if (toStartOfTimeline) return;
      settled(event).then((e) => emit({ event: describe(e) }), (e) => emit({ log: String(e) }));
    });
    // A key that arrives after its message decrypts it then, as Element shows it: send the event again.
    client.on(sdk.MatrixEventEvent.Decrypted, (event) => {
      if (event.getRoomId()) emit({ event: describe(event) });
    });
    client.on(sdk.RoomMemberEvent.Membership, (event, member) => {
      if (member.userId === client.getUserId() && member.membership === "invite") {
        client.joinRoom(member.roomId).catch((e) => emit({ log: `join ${member.roomId}: ${e}` }));
      }
    });
    const ready = new Promise((resolve) => client.once(sdk.ClientEvent.Sync, resolve));
    await client.startClient({ initialSyncLimit: 20 });
    await ready;
    return { user_id: login.user_id, device_id: login.device_id };
  },

  async join({ room_id }) {
    await client.joinRoom(room_id);
    return {};
  },

  async send({ room_id, body, thread_root = null }) {
    const content = { msgtype: "m.text", body };
    const answer = await client.sendEvent(room_id, thread_root, sdk.EventType.RoomMessage, content);
    return { event_id: answer.event_id };
  },

  async react({ room_id, event_id, key = "✅" }) {
    const answer = await client.sendEvent(room_id, sdk.EventType.Reaction, {
      "m.relates_to": { rel_type: "m.annotation", event_id, key },
    });
    return { event_id: answer.event_id };
  },

  async device_status({ user_id, device_id }) {
    const crypto = client.getCrypto();
    await crypto.getUserDeviceInfo([user_id], true);
    const status = await crypto.getDeviceVerificationStatus(user_id, device_id);
    if (status === null) return null;
    return { signed_by_owner: status.signedByOwner, cross_signing_verified: status.crossSigningVerified,
             locally_verified: status.localVerified };
  },

  async stop() {
    client?.stopClient();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;
  }
  try {
    const result = await ops[request.op](request);
    emit({ id: request.id, ok: true, result: result ?? null });
  } catch (error) {
    emit({ id: request.id, ok: false, error: String(error?.stack || error) });
  }
});
lines.on("close", () => { client?.stopClient(); process.exit(0); });
