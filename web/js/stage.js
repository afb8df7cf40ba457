// The stage of a broadcast: the host invites a viewer, sees who is on, takes them off; the
// invited viewer accepts and publishes the room's `guest` slot.
import { api } from './api.js';
import { publish, play, camera } from './media.js';
import { h, notify, showError } from './ui.js';

/** Host side. `list` is the <ul> of who is on stage; `video` plays the guest. */
export function hostStage(sig, { list, video, roomId, handles }) {
  let player = null;
  const render = (userId) => {
    if (!userId) return list.replaceChildren(h('li', { className: 'muted' }, 'Nobody is on stage.'));
    const off = h('button', { type: 'button', className: 'stage-off', onclick: () => takeOff(userId) }, 'Take off stage');
    list.replaceChildren(h('li', { dataset: { user: userId } }, (handles.get(userId) || 'a viewer') + ' is on stage ', off));
  };
  const takeOff = async (userId) => {
    try { await sig.send('stage.leave', { user_id: userId }); } catch (e) { showError(e, 'Could not take them off'); }
  };
  const stopPlayer = () => { if (player) player.stop(); player = null; video.hidden = true; };
  sig.on('stage.joined', async (m) => {
    if (m.room_id !== roomId()) return;
    render(m.user_id);
    stopPlayer();
    video.hidden = false;
    const slot = async () => {
      const room = await api('GET', '/v1/rooms/' + roomId());
      const s = room.status === 'live' && room.slots.find((x) => x.name === 'guest' && x.play);
      return s ? s.play : null;
    };
    player = play(video, slot, () => {});
  });
  sig.on('stage.left', (m) => {
    if (m.room_id !== roomId()) return;
    render(null);
    stopPlayer();
  });
  render(null);
  return {
    invite: async (userId) => {
      try {
        await sig.send('stage.invite', { user_id: userId });
        notify(`Invited ${handles.get(userId) || 'the viewer'} on stage.`, 'info', { ttl: 5000 });
      } catch (e) { showError(e, 'Invitation not sent'); }
    },
    reset: () => { render(null); stopPlayer(); },
    get player() { return player; },
  };
}

/** Viewer side: an invitation prompt, then publishing the guest slot until taken off. */
export function viewerStage(sig, { box, roomId, me }) {
  let publisher = null;
  let stream = null;
  const leave = async (tell) => {
    if (publisher) await publisher.stop();
    publisher = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    box.replaceChildren();
    delete document.body.dataset.onstage;
    if (tell) await sig.send('stage.leave', {}).catch(() => {});
  };
  sig.on('stage.invite', (m) => {
    if (m.room_id !== roomId()) return;
    const yes = h('button', { type: 'button', id: 'stage-accept', className: 'primary' }, 'Go on stage');
    const no = h('button', { type: 'button' }, 'No thanks');
    box.replaceChildren(h('div', { className: 'notice info', role: 'alert' }, 'The creator invites you on stage: your camera and microphone will be seen and heard by everyone watching. ', yes, ' ', no));
    yes.focus();
    no.onclick = () => box.replaceChildren();
    yes.onclick = async () => {
      try {
        stream = await camera();
        await sig.send('stage.accept', {});
        const slot = async () => {
          const room = await api('GET', '/v1/rooms/' + roomId());
          const s = room.status === 'live' && room.slots.find((x) => x.name === 'guest' && x.publish);
          return s ? s.publish : null;
        };
        publisher = publish(stream, slot, () => {});
        const off = h('button', { type: 'button', id: 'stage-leave' }, 'Leave the stage');
        off.onclick = () => leave(true);
        box.replaceChildren(h('p', { className: 'onstage', role: 'status' }, 'You are on stage. ', off));
        document.body.dataset.onstage = 'true';
      } catch (e) {
        await leave(false);
        showError(e, 'Could not go on stage');
      }
    };
  });
  sig.on('stage.left', (m) => {
    if (m.room_id !== roomId() || m.user_id !== me) return;
    if (publisher || document.body.dataset.onstage) {
      leave(false);
      notify('You are off stage.', 'info', { ttl: 5000 });
    }
  });
  return { leave };
}
