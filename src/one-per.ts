/**
 * `create(key)` made once per key object and remembered for as long as the key lives (a WeakMap): the batchers and
 * coalescers that belong to one ORM, Redis connection or queue, however many requests or jobs ask for them.
 */
export function onePer<K extends object, V>(create: (key: K) => V): (key: K) => V {
  const made = new WeakMap<K, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) made.set(key, (value = create(key)));
    return value;
  };
}
