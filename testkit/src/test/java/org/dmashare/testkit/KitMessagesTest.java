package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import org.dmashare.pgtable.UnmapPolicy;
import org.junit.jupiter.api.Test;

/** What the kit prints: byte arrays as bytes and page-size bitmaps in hex. */
class KitMessagesTest {

    @Test
    void aByteArrayResultIsPrintedAsItsBytesNotAsAnObjectReference() {
        assertThat(KitFixture.describe(new byte[] {1, 2, (byte) 0xff})).isEqualTo("3 bytes [01 02 ff]");
        assertThat(KitFixture.describe(new byte[20]))
                .startsWith("20 bytes [00 00")
                .endsWith(" ...]");
        assertThat(KitFixture.describe(0x4000L)).isEqualTo("0x4000");
    }

    @Test
    void capabilitiesPrintTheirPageSizeBitmapInHex() {
        Capabilities c = Capabilities.builder(4096)
                .pageSizes(0x0111_1000L)
                .blockMappings(true)
                .unmapPolicy(UnmapPolicy.WHOLE_ENTRY_FROM_START)
                .build();
        assertThat(c.toString())
                .contains("page sizes 0x111_1000")
                .contains("granule 4 KiB")
                .contains("unmapPolicy WHOLE_ENTRY_FROM_START")
                .doesNotContain("17895424");
    }
}
