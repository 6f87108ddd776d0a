package org.dmashare.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The primitive maps agree with {@link HashMap} through random puts, removes and growth. */
class LongMapsTest {
    private static final int SCALE = Integer.getInteger("dmashare.test.scale", 1);

    @Test
    void longLongMapAgreesWithHashMapThroughRandomPutsAndRemoves() {
        long seed = System.nanoTime();
        System.out.println("longLongMapAgreesWithHashMapThroughRandomPutsAndRemoves seed=" + seed);
        Random random = new Random(seed);
        LongLongMap map = new LongLongMap();
        Map<Long, Long> reference = new HashMap<>();
        for (int step = 0; step < 200_000 * SCALE; step++) {
            // page-aligned keys in a small range: long probe runs, many collisions and backward shifts
            long key = 0x8_0000_0000L + ((long) random.nextInt(5_000) << 12);
            if (random.nextInt(3) == 0) {
                assertThat(map.remove(key)).isEqualTo(reference.remove(key) != null);
            } else {
                long value = random.nextLong();
                map.put(key, value);
                reference.put(key, value);
            }
            if (step % 997 == 0) {
                assertThat(map.size()).isEqualTo(reference.size());
                reference.forEach((k, v) -> assertThat(map.get(k, -7)).isEqualTo(v));
            }
            assertThat(map.get(key, -7)).isEqualTo(reference.getOrDefault(key, -7L));
            assertThat(map.containsKey(key)).isEqualTo(reference.containsKey(key));
        }
        Map<Long, Long> seen = new HashMap<>();
        map.forEach(seen::put);
        assertThat(seen).isEqualTo(reference);
    }

    @Test
    void longObjectMapAgreesWithHashMapAndForgetsRemovedValues() {
        long seed = System.nanoTime();
        System.out.println("longObjectMapAgreesWithHashMapAndForgetsRemovedValues seed=" + seed);
        Random random = new Random(seed);
        LongObjectMap<String> map = new LongObjectMap<>();
        Map<Long, String> reference = new HashMap<>();
        for (int step = 0; step < 100_000 * SCALE; step++) {
            long key = (long) random.nextInt(3_000) << 14;
            if (random.nextBoolean()) {
                assertThat(map.remove(key)).isEqualTo(reference.remove(key) != null);
            } else {
                String value = "v" + step;
                map.put(key, value);
                reference.put(key, value);
            }
            assertThat(map.get(key)).isEqualTo(reference.get(key));
        }
        assertThat(map.size()).isEqualTo(reference.size());
        List<String> values = new ArrayList<>();
        map.forEachValue(values::add);
        assertThat(values).containsExactlyInAnyOrderElementsOf(reference.values());
        map.clear();
        assertThat(map.size()).isZero();
        assertThat(map.get(reference.keySet().iterator().next())).isNull();
    }

    @Test
    void negativeKeysAreRefused() {
        assertThatThrownBy(() -> new LongLongMap().put(-1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new LongObjectMap<String>().put(-5, "x")).isInstanceOf(IllegalArgumentException.class);
    }
}
