// Reference for the "jump" algorithm: Guava's Hashing.consistentHash.
//
// Reads lines "<long> <buckets>" from stdin (decimal, signed 64-bit long and
// a positive int) and prints, one line each, Hashing.consistentHash(long,
// buckets).  Used by test/t/022_guava_jump.pl with Debian's libguava-java:
//
//   javac -cp /usr/share/java/guava.jar -d OUT JumpRef.java
//   java -cp /usr/share/java/guava.jar:OUT JumpRef < in > out
//
// A line that does not parse is an error (exit 2), so a truncated input
// cannot pass silently.

import com.google.common.hash.Hashing;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;

public final class JumpRef
{
	public static void main(String[] args) throws IOException
	{
		BufferedReader in = new BufferedReader(
			new InputStreamReader(System.in, StandardCharsets.US_ASCII), 1 << 16);
		BufferedWriter out = new BufferedWriter(
			new OutputStreamWriter(System.out, StandardCharsets.US_ASCII), 1 << 16);
		String line;
		long lineno = 0;
		while ((line = in.readLine()) != null)
		{
			lineno++;
			line = line.trim();
			if (line.isEmpty())
				continue;
			String[] f = line.split("\\s+");
			if (f.length != 2)
			{
				System.err.println("JumpRef: line " + lineno + ": expected '<long> <buckets>': " + line);
				System.exit(2);
			}
			long input;
			int buckets;
			try
			{
				input = Long.parseLong(f[0]);
				buckets = Integer.parseInt(f[1]);
			}
			catch (NumberFormatException e)
			{
				System.err.println("JumpRef: line " + lineno + ": " + e.getMessage());
				System.exit(2);
				return;
			}
			out.write(Integer.toString(Hashing.consistentHash(input, buckets)));
			out.write('\n');
		}
		out.flush();
	}
}
