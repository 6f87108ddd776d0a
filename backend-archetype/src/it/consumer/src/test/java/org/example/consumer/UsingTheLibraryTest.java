package org.example.consumer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class UsingTheLibraryTest {

    @Test
    void everyDeviceReadsWhatTheCpuWroteAtA16KiBAlignment() {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            UsingTheLibrary.main(new String[0]);
        } finally {
            System.setOut(old);
        }
        String printed = out.toString(StandardCharsets.UTF_8);
        System.out.print(printed);
        assertTrue(printed.startsWith("A = 16384, ") && printed.strip().endsWith("equal true"), printed);
    }
}
