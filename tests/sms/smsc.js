// A small SMSC for the SMS tests, on the npm `smpp` package's server mode.
// Prints one JSON line per event on stdout; takes one JSON command per line on stdin:
//   {"cmd":"refuse","statuses":[88,11]}   answer the next submit_sm PDUs with these command_status values
//   {"cmd":"receipt_stat","stat":"UNDELIV"}  stat word of the following delivery receipts
//   {"cmd":"mo","from":"13800138000","text":"TD"}  send a mobile-originated message to every bound session
// Usage: node smsc.js SYSTEM_ID PASSWORD
'use strict';
const readline = require('readline');
const smpp = require('smpp');

const [systemId, password] = process.argv.slice(2);
const sessions = new Set();
let refusals = [];
let receiptStat = 'DELIVRD';
let nextId = 1000;

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

function textOf(sm) {
  if (sm === undefined || sm === null) return '';
  if (typeof sm === 'string') return sm;
  if (Buffer.isBuffer(sm)) return sm.toString('latin1');
  const msg = sm.message;
  return typeof msg === 'string' ? msg : Buffer.isBuffer(msg) ? msg.toString('latin1') : '';
}

function smppDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const server = smpp.createServer(function (session) {
  session.on('error', (err) => out({ event: 'session_error', message: String(err) }));
  const onBind = (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      out({ event: 'bind_refused', system_id: pdu.system_id });
      session.close();
      return;
    }
    sessions.add(session);
    session.send(pdu.response());
    out({ event: 'bound', command: pdu.command, system_id: pdu.system_id });
  };
  session.on('bind_transceiver', onBind);
  session.on('bind_transmitter', onBind);
  session.on('bind_receiver', onBind);
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    sessions.delete(session);
    session.send(pdu.response());
    session.close();
    out({ event: 'unbound' });
  });
  session.on('close', () => sessions.delete(session));
  session.on('submit_sm', (pdu) => {
    const text = textOf(pdu.short_message);
    if (refusals.length > 0) {
      const status = refusals.shift();
      session.send(pdu.response({ command_status: status }));
      out({ event: 'refused', to: pdu.destination_addr, status });
      return;
    }
    const id = String(nextId++);
    session.send(pdu.response({ message_id: id }));
    out({
      event: 'submit', id, to: pdu.destination_addr, from: pdu.source_addr, text,
      data_coding: pdu.data_coding, esm_class: pdu.esm_class, registered_delivery: pdu.registered_delivery,
    });
    if (pdu.registered_delivery & 0x01) {
      const now = smppDate(new Date());
      const stat = receiptStat;
      const state = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 }[stat] || 7;
      setImmediate(() => {
        session.deliver_sm({
          source_addr: pdu.destination_addr,
          destination_addr: pdu.source_addr,
          esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
          short_message: `id:${id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:${now} done date:${now} stat:${stat} err:000 text:`,
          receipted_message_id: id,
          message_state: state,
        });
        out({ event: 'receipt_sent', id, stat });
      });
    }
  });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.cmd === 'refuse') {
    refusals = refusals.concat(cmd.statuses);
    out({ event: 'ok', cmd: cmd.cmd });
  } else if (cmd.cmd === 'receipt_stat') {
    receiptStat = cmd.stat;
    out({ event: 'ok', cmd: cmd.cmd });
  } else if (cmd.cmd === 'mo') {
    for (const s of sessions) {
      s.deliver_sm({ source_addr: cmd.from, destination_addr: cmd.to || '', short_message: cmd.text });
    }
    out({ event: 'mo_sent', sessions: sessions.size });
  } else {
    out({ event: 'error', message: 'unknown command ' + cmd.cmd });
  }
});
rl.on('close', () => process.exit(0));

server.listen(0, '127.0.0.1', () => out({ event: 'listening', port: server.address().port }));
