import { domainEvent } from '../events';
import { InProcessEventBus } from '../event-bus/in-process';
import { silentLogger } from '../logger';
import { eventConsumer } from '../outbox-relay';
import { startWorkers, stopWorkers, type Worker } from '../subgraph';
import { waitFor } from '../testing';

describe('starting and stopping workers', () => {
  it('starts consumers first, so an event published as a relay starts is not lost on the in-process bus', async () => {
    const bus = new InProcessEventBus(silentLogger());
    const event = domainEvent('OrderConfirmed', 'order-1', { orderId: 'order-1' });
    const heard: string[] = [];
    // A relay publishing what its outbox held at start, listed before the consumer that needs it.
    const relay: Worker = { name: 'outbox-relay', start: () => bus.publish([event]), stop: async () => {} };
    const consumer = eventConsumer(async () => bus, 'listener', ['OrderConfirmed'], async (e) => void heard.push(e.id));
    await startWorkers([relay, consumer]);
    await waitFor('the event to be heard', () => heard.length === 1);
    expect(heard).toEqual([event.id]);
    await stopWorkers([relay, consumer], silentLogger());
    await bus.close();
  });

  it('stops publishers first and consumers last, each in reverse order, and goes on when one fails', async () => {
    const calls: string[] = [];
    const worker = (name: string, consumes: boolean, fails = false): Worker => ({
      name,
      consumes,
      start: async () => void calls.push(`start ${name}`),
      stop: async () => {
        calls.push(`stop ${name}`);
        if (fails) throw new Error(`${name} would not stop`);
      },
    });
    const workers = [worker('relay-a', false), worker('consumer-a', true), worker('sweeper', false, true), worker('consumer-b', true)];
    await startWorkers(workers);
    await stopWorkers(workers, silentLogger());
    expect(calls).toEqual([
      'start consumer-a',
      'start consumer-b',
      'start relay-a',
      'start sweeper',
      'stop sweeper',
      'stop relay-a',
      'stop consumer-b',
      'stop consumer-a',
    ]);
  });
});
