package dev.suppress.djl.nn;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes a TorchScript module archive, the zip {@code torch.jit.save} produces, for a module with no parameters and
 * methods given as TorchScript source, so that libtorch compiles them when {@code torch::jit::load} reads it.
 *
 * <p>The archive holds what libtorch's importer reads: {@code data.pkl}, the pickled module object (an instance of
 * {@code __torch__.<className>} whose only attribute is {@code training}); {@code code/__torch__.py}, the class; an
 * empty {@code constants.pkl}; {@code version} (3, the oldest format libtorch 2.x still reads) and
 * {@code byteorder}. Entries are stored, not deflated. Nothing here needs Python.
 */
final class TorchScriptArchive {

    private static final int FORMAT_VERSION = 3;

    private TorchScriptArchive() {
    }

    /**
     * @param className a Python identifier, the module's class
     * @param methods   the class body after its declarations: {@code def name(self: __torch__.<className>, ...)}
     *                  methods indented by two spaces, in TorchScript's serialized dialect
     * @return the archive's bytes
     */
    static byte[] module(String className, String methods) {
        if (!className.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new IllegalArgumentException("Not a class name: " + className);
        }
        String code = "class " + className + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + methods;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            // every record sits under one top-level folder, named after the archive
            String root = className + "/";
            stored(zip, root + "data.pkl", modulePickle(className));
            stored(zip, root + "code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
            stored(zip, root + "constants.pkl", new byte[] {PROTO, 2, EMPTY_TUPLE, STOP});
            stored(zip, root + "version", (FORMAT_VERSION + "\n").getBytes(StandardCharsets.US_ASCII));
            stored(zip, root + "byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    private static final byte PROTO = (byte) 0x80;
    private static final byte GLOBAL = 'c';
    private static final byte EMPTY_TUPLE = ')';
    private static final byte NEWOBJ = (byte) 0x81;
    private static final byte EMPTY_DICT = '}';
    private static final byte MARK = '(';
    private static final byte BINUNICODE = 'X';
    private static final byte NEWTRUE = (byte) 0x88;
    private static final byte SETITEMS = 'u';
    private static final byte BUILD = 'b';
    private static final byte STOP = '.';

    /** Pickle protocol 2 of {@code __torch__.<className>()} with its state {@code {'training': True}}. */
    private static byte[] modulePickle(String className) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(PROTO);
        out.write(2);
        out.write(GLOBAL);
        out.writeBytes(("__torch__\n" + className + "\n").getBytes(StandardCharsets.US_ASCII));
        out.write(EMPTY_TUPLE);
        out.write(NEWOBJ);
        out.write(EMPTY_DICT);
        out.write(MARK);
        byte[] key = "training".getBytes(StandardCharsets.US_ASCII);
        out.write(BINUNICODE);
        // little-endian length
        for (int i = 0; i < 4; i++) {
            out.write((key.length >>> (8 * i)) & 0xff);
        }
        out.writeBytes(key);
        out.write(NEWTRUE);
        out.write(SETITEMS);
        out.write(BUILD);
        out.write(STOP);
        return out.toByteArray();
    }

    private static void stored(ZipOutputStream zip, String name, byte[] content) throws IOException {
        ZipEntry entry = new ZipEntry(name);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(content.length);
        entry.setCompressedSize(content.length);
        CRC32 crc = new CRC32();
        crc.update(content);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(content);
        zip.closeEntry();
    }
}
